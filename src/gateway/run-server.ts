// Composition root of `postern server`: config, store, API socket, signals. Protocol
// listeners join here as they land; "ready" is logged once every listener is bound.
import { existsSync, unlinkSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { startUnixApi } from '../api/unix-server.js';
import { createLogger } from '../io/log.js';
import { Gateway } from './gateway.js';
import { openGatewayDataPlane, type GatewayDataPlane } from './data-plane-setup.js';
import { OpenvpnService } from './openvpn/openvpn-service.js';

export async function runServer(dir: string): Promise<void> {
  const log = createLogger('info', 'postern-gateway');
  const gw = await Gateway.open(dir, log);
  log.level = gw.config.log.level;
  const socketPath = isAbsolute(gw.config.api.socket)
    ? gw.config.api.socket
    : join(dir, gw.config.api.socket);
  const api = await startUnixApi(gw, socketPath);
  gw.listeners.push({ kind: 'api', address: `unix:${socketPath}` });

  let dataPlane: GatewayDataPlane | undefined;
  if (gw.config.openvpn.enabled) {
    dataPlane = await openGatewayDataPlane(gw.config, log);
    const openvpn = new OpenvpnService(gw, log, dataPlane.dataPath, dataPlane.nativeListener);
    gw.services.push(openvpn);
    gw.listeners.push(...(await openvpn.start()));
  }

  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info({ event: 'stopping', signal }, 'stopping');
    await api.close();
    if (existsSync(socketPath)) unlinkSync(socketPath);
    await gw.close();
    await dataPlane?.close();
    log.info({ event: 'stopped' }, 'stopped');
    log.flush();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGHUP', () => {
    gw.reload().catch(() => undefined); // reload() logs the refusal; the old config stays
  });

  log.info(
    {
      event: 'ready',
      gateway: gw.config.name,
      listeners: gw.listeners,
      store: gw.store.description,
    },
    'gateway ready',
  );
}
