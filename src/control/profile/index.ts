// Client profiles: what a user installs to reach the gateway.
export type {
  ControlChannelKey,
  DataCipher,
  ProfileAuth,
  ProfileFormat,
  ProfileMaterial,
  ProfileRemote,
} from './material.js';
export { PROFILE_FORMATS } from './material.js';
export type { GatherOptions } from './gather.js';
export { gatherProfileMaterial, openvpnRemotes } from './gather.js';
export { renderOvpn, TOTP_PROMPT } from './render-ovpn.js';
export { renderPosternProfile, toPosternProfile } from './render-postern.js';
export type { PosternProfile } from './postern-profile.js';
export {
  loadPosternProfile,
  parsePosternProfile,
  POSTERN_PROFILE_VERSION,
  PROFILE_DATA_CIPHERS,
  posternProfileSchema,
} from './postern-profile.js';
export type { ProfileKeyOwner } from './key-metadata.js';
export { profileKeyMetadata, readProfileKeyOwner } from './key-metadata.js';
export { PROFILE_FILE_MODE, writePrivateFile } from './write-private-file.js';
export type { ExportContext, ExportedProfile } from './export.js';
export { AUDIT_REASON_PROFILE_EXPORT, exportProfile, renderProfile } from './export.js';
