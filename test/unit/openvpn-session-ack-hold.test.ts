// A key state whose TLS step runs on a thread pool holds a bare ACK until the step's output can
// carry it (two packets fewer per handshake each way, as OpenVPN's synchronous TLS answers),
// but never longer than 50 ms, and never when the engine is idle.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KeyState } from '../../src/proto/openvpn/session/key-state.js';
import type { TlsEngine } from '../../src/proto/openvpn/session/tls-engine.js';
import { Opcode } from '../../src/wire/openvpn/constants.js';

function keyStateWithEngine(): { state: KeyState; engine: { busy: boolean; got: Uint8Array[] } } {
  const engine = { busy: false, got: [] as Uint8Array[] };
  const tls: TlsEngine = {
    receiveCiphertext: (b) => void engine.got.push(b),
    sendPlaintext: () => undefined,
    exportKeyingMaterial: () => new Uint8Array(0),
    close: () => undefined,
    get busy() {
      return engine.busy;
    },
  };
  const state = new KeyState({
    keyId: 0,
    role: 'server',
    resetOpcode: undefined, // both resets already exchanged (the stateless start)
    peerResetOpcodes: [Opcode.CONTROL_HARD_RESET_CLIENT_V2],
    localKeyMethod2: { random1: new Uint8Array(32), random2: new Uint8Array(32), options: 'V4' },
    createTls: () => tls,
    onTlsEvent: () => undefined,
  });
  return { state, engine };
}

const record = (packetId: number) => ({
  kind: 'message' as const,
  opcode: Opcode.CONTROL_V1,
  keyId: 0,
  sessionId: new Uint8Array(8).fill(1),
  acks: [],
  remoteSessionId: undefined,
  packetId,
  payload: Uint8Array.of(0x16, 3, 3, 0, 1, 0),
});

describe('bare ACKs while a TLS step runs elsewhere', () => {
  it('are held while the engine is busy, and go out once it is not', () => {
    const { state, engine } = keyStateWithEngine();
    state.receive(record(1), 1000);
    assert.equal(engine.got.length, 1);
    engine.busy = true;
    assert.equal(state.poll(1000), undefined, 'held');
    const at = state.nextDeadline();
    assert.ok(at !== undefined && at > 1000 && at <= 1005, `looks again soon: ${at}`);
    assert.equal(state.poll(1004), undefined, 'still held');
    engine.busy = false;
    assert.deepEqual(state.poll(1005), { kind: 'ack', acks: [1] });
    assert.equal(state.poll(1005), undefined);
  });

  it('are held at most 50 ms', () => {
    const { state, engine } = keyStateWithEngine();
    engine.busy = true;
    state.receive(record(1), 2000);
    assert.equal(state.poll(2000), undefined);
    assert.equal(state.poll(2049), undefined);
    assert.deepEqual(state.poll(2050), { kind: 'ack', acks: [1] });
  });

  it('are not held by an engine that runs its steps in place', () => {
    const { state } = keyStateWithEngine();
    state.receive(record(1), 3000);
    assert.deepEqual(state.poll(3000), { kind: 'ack', acks: [1] });
  });
});
