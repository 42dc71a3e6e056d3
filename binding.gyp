# postern_native: Node-API addon in plain C, built by scripts/build-native.mjs (npm's install
# script) against the installed Node's headers (--nodedir=/usr). OpenSSL headers, for the
# coming AEAD fast path, are Node's own (<node include dir>/openssl), and the symbols resolve
# against the running node binary, so no extra library is linked.
{
  'targets': [
    {
      'target_name': 'postern_native',
      'sources': [
        'native/addon.c',
        'native/napi_util.c',
        'native/ovpn_crypto.c',
        'native/ovpn_dp.c',
        'native/ovpn_first_contact.c',
        'native/ovpn_handoff.c',
        'native/ovpn_hooks.c',
        'native/ovpn_offload.c',
        'native/ovpn_peers.c',
        'native/ovpn_policy.c',
        'native/ovpn_rx.c',
        'native/ovpn_tcp.c',
        'native/ovpn_tun.c',
        'native/ovpn_tun_queue.c',
        'native/ovpn_tx.c',
        'native/tun.c',
        'native/tls_crl.c',
        'native/tls_crypt.c',
        'native/tls_engine.c',
        'native/tun_reader.c',
      ],
      'defines': ['NAPI_VERSION=8'],
      'cflags': ['-std=gnu11', '-O2', '-Wall'],
    },
  ],
}
