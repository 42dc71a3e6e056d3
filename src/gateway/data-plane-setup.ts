// Opens the gateway's tunnel side: the TUN device (pool gateway addresses, forwarding on) and
// the data planes. With the native fast path, the native side owns the TUN device and the
// first UDP listener's socket; the reference path reaches the TUN device through it.
import type { Config } from '../control/config/index.js';
import { NativeOpenvpnDataPlane, supportsNative } from '../dataplane/native/openvpn-native.js';
import { ReferenceOpenvpnDataPlane } from '../dataplane/reference/openvpn-peers.js';
import type { Logger } from '../io/log.js';
import type { TunDevice, TunStats } from '../io/tun/tun-device.js';
import { GatewayDataPath } from './openvpn/data-path.js';
import {
  GATEWAY_TUN_NAME,
  enableForwarding,
  gatewayTunAddresses,
  openGatewayTun,
} from './tunnel-device.js';

export interface GatewayDataPlane {
  dataPath: GatewayDataPath;
  /** The UDP listener the native path serves, if any. */
  nativeListener: { address: string; port: number } | undefined;
  close(): Promise<void>;
}

/** The reference path's view of a TUN device the native path owns. */
function tunThroughNative(native: NativeOpenvpnDataPlane, name: string, mtu: number): TunDevice {
  let written = 0;
  return {
    name,
    mtu,
    onPackets: (cb) => native.onUnrouted(cb),
    write: (packets) => {
      written += native.tunWrite(packets);
    },
    close: () => Promise.resolve(),
    stats: (): TunStats => ({
      packetsRead: 0,
      batchesRead: 0,
      readErrors: 0,
      packetsWritten: written,
      writeDropped: 0,
    }),
  };
}

export async function openGatewayDataPlane(config: Config, log: Logger): Promise<GatewayDataPlane> {
  const udp = config.openvpn.listen.find((l) => l.proto === 'udp');
  const support = supportsNative();
  const wantNative = config.openvpn.dataplane === 'native' && udp !== undefined;
  if (wantNative && support.ok) {
    const mtu = 1420;
    const native = await NativeOpenvpnDataPlane.open({
      bind: { address: udp.address, port: udp.port },
      tun: {
        name: GATEWAY_TUN_NAME,
        mtu,
        addresses: gatewayTunAddresses(config),
      },
    });
    enableForwarding(log);
    const reference = new ReferenceOpenvpnDataPlane(
      tunThroughNative(native, GATEWAY_TUN_NAME, mtu),
      Date.now,
    );
    native.onUnrouted((packets) => reference.fromTun(packets));
    native.onError((thread, errno) =>
      log.error({ event: 'dataplane', thread, errno }, 'native data path error'),
    );
    log.info(
      {
        event: 'dataplane',
        kind: 'native',
        offload: native.offload,
        port: native.port,
        tcp: process.env.POSTERN_NATIVE_TCP !== '0',
      },
      'native fast path on',
    );
    return {
      // POSTERN_NATIVE_TCP=0 keeps TCP clients on the TypeScript path (UDP stays native).
      dataPath: new GatewayDataPath(reference, native, {
        nativeTcp: process.env.POSTERN_NATIVE_TCP !== '0',
      }),
      nativeListener: { address: udp.address, port: native.port },
      close: () => native.close(),
    };
  }
  if (wantNative && !support.ok) {
    log.warn(
      { event: 'dataplane', kind: 'reference', reason: support.reason },
      'native fast path unavailable; using the TypeScript data path',
    );
  }
  const tun = await openGatewayTun(config, log);
  const reference = new ReferenceOpenvpnDataPlane(tun, Date.now);
  tun.onPackets((packets) => reference.fromTun(packets));
  return {
    dataPath: new GatewayDataPath(reference),
    nativeListener: undefined,
    close: () => tun.close(),
  };
}
