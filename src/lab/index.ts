// The lab: real networks on one machine (network namespaces + veth pairs) for tests,
// benchmarks and `postern demo`. See lab.ts for the topology.
export { createLab, Lab } from './lab.js';
export type {
  Capture,
  CaptureOptions,
  CaptureResult,
  CreateLabOptions,
  DownloadResult,
  ExecOptions,
  ExecResult,
  FileServer,
  HttpServerOptions,
  LinkCounters,
  PingOptions,
  PingResult,
} from './lab.js';
export { sweepStaleLabs } from './sweep.js';
export type { SweepOptions, SweepReport } from './sweep.js';
export {
  HOSTS,
  LAB_ADDRESSES,
  LAB_IFACES,
  LAB_NETWORKS,
  PRIMARY_ADDRESS,
  DEFAULT_CAPTURE_IFACE,
} from './addresses.js';
export type { DualStack, HostName, LabAddresses } from './addresses.js';
export { deterministicChunks, deterministicSha256 } from './deterministic-bytes.js';
export { parseNamespaceName, namespaceName } from './names.js';
