// Postern's OpenVPN-compatible gateway over UDP (native fast path), stock openvpn client.
import { posternOpenvpn } from './postern-openvpn.js';

export const posternOpenvpnUdp = posternOpenvpn({
  id: 'postern-openvpn-udp',
  label: 'Postern OpenVPN-UDP AES-256-GCM',
  proto: 'udp',
  cipher: 'AES-256-GCM',
  loadTest: true,
});

export const posternOpenvpnUdpChacha = posternOpenvpn({
  id: 'postern-openvpn-udp-chacha',
  label: 'Postern OpenVPN-UDP CHACHA20-POLY1305',
  proto: 'udp',
  cipher: 'CHACHA20-POLY1305',
});
