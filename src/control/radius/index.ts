export {
  radiusAuthenticate,
  worstCaseMs,
  DEFAULT_TIMEOUT_MS,
  DEFAULT_TRIES,
  type RadiusServer,
  type RadiusSettings,
  type RadiusVerdict,
} from './authenticate.js';
export {
  RadiusAccounting,
  terminateCauseFor,
  type AccountingSession,
  type AccountingCounters,
  type AccountingOutcome,
} from './accounting.js';
export { radiusSettingsFrom, radiusAuthenticateWith } from './settings.js';
