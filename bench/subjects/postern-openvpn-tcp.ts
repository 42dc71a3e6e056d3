// Postern's OpenVPN-compatible gateway over TCP, stock openvpn client.
import { posternOpenvpn } from './postern-openvpn.js';

export const posternOpenvpnTcp = posternOpenvpn({
  id: 'postern-openvpn-tcp',
  label: 'Postern OpenVPN-TCP AES-256-GCM',
  proto: 'tcp',
  cipher: 'AES-256-GCM',
});
