import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

/**
 * True when an address is anything but a public unicast address: loopback, private, link-local,
 * carrier-grade NAT, multicast, broadcast, unspecified, documentation and other reserved ranges, and the
 * IPv6 forms that embed an IPv4 address (mapped, 6to4, Teredo, NAT64), which are judged as blocked too.
 */
export function isBlockedAddress(address: string): boolean {
  const bare = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  if (!ipaddr.isValid(bare)) return true;
  // process() turns IPv4-mapped IPv6 (::ffff:127.0.0.1) into the IPv4 address it stands for.
  return ipaddr.process(bare).range() !== 'unicast';
}

/** The host of a URL when it is written as an IP address (URL parsing has already normalised 0x7f.1 etc.). */
export function literalAddress(hostname: string): string | undefined {
  const bare = hostname.replace(/^\[|\]$/g, '');
  return isIP(bare) ? bare : undefined;
}
