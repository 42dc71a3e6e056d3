// What a header parser returns: the header, or why the bytes are not one. The data path drops
// and counts by `reason`; nothing here throws on bad input.

export type IpParseFailure =
  | 'empty'
  | 'bad-version'
  | 'truncated' // fewer bytes than the header, or than the header says the packet has
  | 'bad-header-length'
  | 'bad-total-length';

export type IpParseResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly reason: IpParseFailure };

export function parsed<T>(value: T): IpParseResult<T> {
  return { ok: true, value };
}

export function rejected<T>(reason: IpParseFailure): IpParseResult<T> {
  return { ok: false, reason };
}
