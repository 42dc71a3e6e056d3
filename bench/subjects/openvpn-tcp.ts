// Stock OpenVPN 2.6 over TCP, userspace.
import { stockOpenvpn } from './stock-openvpn.js';

export const openvpnTcp = stockOpenvpn({
  id: 'openvpn-tcp',
  label: 'OpenVPN 2.6 TCP AES-256-GCM',
  proto: 'tcp',
  cipher: 'AES-256-GCM',
});

export const openvpnTcpChacha = stockOpenvpn({
  id: 'openvpn-tcp-chacha',
  label: 'OpenVPN 2.6 TCP CHACHA20-POLY1305',
  proto: 'tcp',
  cipher: 'CHACHA20-POLY1305',
});
