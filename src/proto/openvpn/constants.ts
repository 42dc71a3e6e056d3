// OpenVPN 2.6 protocol constants used by the sans-I/O cores in this folder. Each names the
// OpenVPN source symbol it mirrors, so a reader can check it against ssl_pkt.h, reliable.h,
// ssl_common.h, common.h, push.c and options.c. Postern's own tunables are marked as such.

/** Bytes in a control-channel session id (`SID_SIZE`). */
export const SESSION_ID_BYTES = 8;

/** Bytes in a control-channel message packet id (`packet_id_type`, 32-bit). */
export const MESSAGE_PACKET_ID_BYTES = 4;

/** Packet ids are 32-bit and wrap: arithmetic is modulo this. */
export const PACKET_ID_MODULUS = 0x1_0000_0000;

/** Half the id space: a difference at or above this means "behind", as `reliable_pid_min`. */
export const PACKET_ID_HALF_RANGE = 0x8000_0000;

/** Send window of the reliability layer (`TLS_RELIABLE_N_SEND_BUFFERS`). */
export const RELIABLE_SEND_WINDOW = 6;

/** Receive window of the reliability layer (`TLS_RELIABLE_N_REC_BUFFERS`). */
export const RELIABLE_RECEIVE_WINDOW = 12;

/** Acks that ride on a CONTROL packet (`CONTROL_SEND_ACK_MAX`). */
export const ACKS_PER_CONTROL_PACKET = 4;

/** Acks in one ACK_V1 packet, also the ack backlog kept (`RELIABLE_ACK_SIZE`). */
export const ACKS_PER_ACK_PACKET = 8;

/** Acks of later ids after which an unacked packet is resent early (`N_ACK_RETRANSMIT`). */
export const FAST_RETRANSMIT_ACKS = 3;

/** Initial retransmit timeout, `--tls-timeout` default 2 s. */
export const TLS_TIMEOUT_MS = 2_000;

/**
 * Postern tunable: ceiling for the doubled retransmit timeout. OpenVPN doubles without a cap
 * (reliable.c) and relies on `--hand-window` to end a stuck handshake; after the handshake the
 * doubling would otherwise grow without bound on a long outage, so we stop at one minute.
 */
export const RETRANSMIT_TIMEOUT_CAP_MS = 60_000;

/** `--hand-window` default: seconds a TLS handshake may take. */
export const HAND_WINDOW_SEC = 60;

/** `--tran-window` default: seconds the old key stays valid after a renegotiation starts. */
export const TRANSITION_WINDOW_SEC = 3_600;

/** `--reneg-sec` default. */
export const RENEG_SEC = 3_600;

/** Data-channel packet id at which a renegotiation is forced (`PACKET_ID_WRAP_TRIGGER`). */
export const PACKET_ID_WRAP_TRIGGER = 0xff00_0000;

/** `--tls-mtu` default: the whole control packet, IP and UDP headers included. */
export const TLS_MTU = 1250;

/** Largest plaintext control message or TLS payload (`TLS_CHANNEL_BUF_SIZE`). */
export const TLS_CHANNEL_BUF_SIZE = 2048;

/** Smallest `--tls-mtu` OpenVPN accepts (`TLS_CHANNEL_MTU_MIN`). */
export const TLS_CHANNEL_MTU_MIN = 512;

/** Buffer one PUSH_REPLY is built in (`PUSH_BUNDLE_SIZE`). */
export const PUSH_BUNDLE_SIZE = 1024;

/** Room push.c keeps free at the end of a PUSH_REPLY for a continuation marker. */
export const PUSH_BUNDLE_RESERVE = 84;

/** Seconds between a client's PUSH_REQUEST retries (`PUSH_REQUEST_INTERVAL`). */
export const PUSH_REQUEST_INTERVAL_SEC = 5;

/** Largest OCC options string in key method 2 (`TLS_OPTIONS_LEN`, NUL included). */
export const TLS_OPTIONS_LEN = 512;

/** Key method carried in key method 2 messages (`KEY_METHOD_2`); low 4 bits (`KEY_METHOD_MASK`). */
export const KEY_METHOD_2 = 2;
export const KEY_METHOD_MASK = 0x0f;

/** Key ids are 3 bits: 0 for the first key, then 1..7 cycling (`P_KEY_ID_MASK`). */
export const KEY_ID_MASK = 0x07;

/** tls-crypt per-packet overhead (`tls_crypt_buf_overhead`: packet id 8 + tag 32 + block 16). */
export const TLS_CRYPT_OVERHEAD = 8 + 32 + 16;

/** tls-auth packet id + time prefix (`packet_id_size(true)`). */
export const TLS_AUTH_PACKET_ID_BYTES = 8;

/** IPv6 + UDP headers, which OpenVPN always budgets for (`datagram_overhead(AF_INET6, UDP)`). */
export const IPV6_UDP_OVERHEAD = 40 + 8;
