export { AddressPool } from './address-pool.js';
export {
  addressToBigInt,
  bigIntToAddress,
  contains,
  netmask4,
  parseNetwork,
  type Family,
  type Network,
} from './ip-math.js';
