export {
  DEFAULT_AUTH_TOKEN_LIFETIME_SEC,
  authTokenSecret,
  looksLikeAuthToken,
  mintAuthToken,
  verifyAuthToken,
  type AuthTokenBinding,
  type AuthTokenVerdict,
} from './auth-token.js';
export { checkTotp, totpStep, type TotpVerdict } from './totp.js';
export {
  AuthLimiter,
  DEFAULT_LIMITS,
  limitsFromEnv,
  sourceAddress,
  type AttemptKeys,
  type LimiterOptions,
  type LimitVerdict,
} from './rate-limit.js';
export {
  ChallengeBook,
  DEFAULT_CHALLENGE_TTL_MS,
  ONE_TIME_CODE_PROMPT,
  crv1Challenge,
  parseCrv1Response,
} from './crv1.js';
