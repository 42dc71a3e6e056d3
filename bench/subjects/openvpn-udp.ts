// Stock OpenVPN 2.6 over UDP, userspace: the reference every other subject is compared with.
import { stockOpenvpn } from './stock-openvpn.js';

export const openvpnUdp = stockOpenvpn({
  id: 'openvpn-udp',
  label: 'OpenVPN 2.6 UDP AES-256-GCM',
  proto: 'udp',
  cipher: 'AES-256-GCM',
  loadTest: true,
});

export const openvpnUdpChacha = stockOpenvpn({
  id: 'openvpn-udp-chacha',
  label: 'OpenVPN 2.6 UDP CHACHA20-POLY1305',
  proto: 'udp',
  cipher: 'CHACHA20-POLY1305',
});
