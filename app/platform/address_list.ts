import ipaddr from 'ipaddr.js'

/**
 * A list of addresses and CIDR ranges from an environment variable
 * (`10.0.0.0/8, ::1`), for deciding which peers to trust. An IPv4-mapped
 * IPv6 peer (::ffff:10.1.2.3) matches its IPv4 form.
 */
export function addressList(value: string | undefined, variable: string) {
  const ranges = (value ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean)
    .map((entry) => {
      try {
        return entry.includes('/')
          ? ipaddr.parseCIDR(entry)
          : ([ipaddr.parse(entry), ipaddr.parse(entry).kind() === 'ipv4' ? 32 : 128] as const)
      } catch {
        throw new Error(`${variable}: "${entry}" is not an address or CIDR range`)
      }
    })
  return {
    get empty() {
      return ranges.length === 0
    },
    includes(address: string | undefined) {
      if (!address || !ipaddr.isValid(address)) return false
      let parsed = ipaddr.parse(address)
      if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) {
        parsed = (parsed as ipaddr.IPv6).toIPv4Address()
      }
      return ranges.some(
        ([range, bits]) => range.kind() === parsed.kind() && parsed.match(range as never, bits)
      )
    },
  }
}
