export { configSchema, type Config, type GroupConfig } from './schema.js';
export { loadConfigFile, parseConfig, readSocketSetting, CONFIG_FILE } from './load.js';
export { renderConfig, type InitSettings } from './render.js';
export { cidrFamily, isCidr, isIpAddress } from './cidr.js';
