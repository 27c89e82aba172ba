import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

/** What kind of address a range holds; the kind decides which allow-list entries, if any, open it. */
export type AddressClass =
  | 'public'
  | 'loopback'
  | 'private'
  | 'unique_local'
  | 'link_local'
  | 'metadata'
  | 'unroutable'
  | 'special';

type Address = ipaddr.IPv4 | ipaddr.IPv6;

/** A range of the table: either a class, or the IPv4 addresses it carries (judged in its place). */
interface SpecialRange {
  readonly network: string;
  readonly name: string;
  readonly class?: AddressClass;
  /** Opened only by entries lying wholly inside this range, as link-local ranges are. */
  readonly onlyFromWithin?: boolean;
  readonly carries?: (parts: readonly number[]) => readonly ipaddr.IPv4[];
}

const ipv4Of = (high: number, low: number) =>
  new ipaddr.IPv4([(high >> 8) & 0xff, high & 0xff, (low >> 8) & 0xff, low & 0xff]);
const lastThirtyTwoBits = (parts: readonly number[]) => [ipv4Of(parts[6] ?? 0, parts[7] ?? 0)];

/**
 * Every IPv4 and IPv6 range that is not plainly public (the IANA special-purpose registries of RFC 6890, and
 * the clouds' metadata addresses). The most specific range that holds an address decides; an address in none
 * of them is public IPv4.
 */
const SPECIAL_RANGES: readonly SpecialRange[] = [
  { network: '0.0.0.0/8', class: 'unroutable', name: '"this network" (RFC 791)' },
  { network: '10.0.0.0/8', class: 'private', name: 'private (RFC 1918)' },
  { network: '100.64.0.0/10', class: 'special', name: 'shared address space, carrier-grade NAT (RFC 6598)' },
  { network: '127.0.0.0/8', class: 'loopback', name: 'loopback (RFC 1122)' },
  { network: '169.254.0.0/16', class: 'link_local', name: 'link-local (RFC 3927)' },
  { network: '172.16.0.0/12', class: 'private', name: 'private (RFC 1918)' },
  { network: '192.0.0.0/24', class: 'special', name: 'IETF protocol assignments (RFC 6890)' },
  { network: '192.0.2.0/24', class: 'special', name: 'documentation TEST-NET-1 (RFC 5737)' },
  { network: '192.88.99.0/24', class: 'special', name: 'deprecated 6to4 relay anycast (RFC 7526)' },
  { network: '192.168.0.0/16', class: 'private', name: 'private (RFC 1918)' },
  { network: '198.18.0.0/15', class: 'special', name: 'benchmarking (RFC 2544)' },
  { network: '198.51.100.0/24', class: 'special', name: 'documentation TEST-NET-2 (RFC 5737)' },
  { network: '203.0.113.0/24', class: 'special', name: 'documentation TEST-NET-3 (RFC 5737)' },
  { network: '224.0.0.0/4', class: 'unroutable', name: 'multicast (RFC 5771)' },
  { network: '240.0.0.0/4', class: 'special', name: 'reserved (RFC 1112)' },
  { network: '255.255.255.255/32', class: 'unroutable', name: 'limited broadcast (RFC 919)' },

  // Instance metadata and credential endpoints: a name that resolves here must never be fetched by default.
  {
    network: '169.254.169.254/32',
    class: 'metadata',
    name: 'instance metadata (AWS, GCP, Azure, OpenStack…)',
  },
  { network: '169.254.170.2/32', class: 'metadata', name: 'AWS ECS task metadata and credentials' },
  { network: '169.254.170.23/32', class: 'metadata', name: 'AWS EKS Pod Identity agent' },
  { network: '100.100.100.200/32', class: 'metadata', name: 'Alibaba Cloud ECS metadata' },
  { network: '168.63.129.16/32', class: 'metadata', name: 'Azure WireServer' },
  { network: '192.0.0.192/32', class: 'metadata', name: 'Oracle Cloud metadata' },
  { network: '169.254.42.42/32', class: 'metadata', name: 'Scaleway instance metadata' },
  { network: '169.254.0.23/32', class: 'metadata', name: 'Tencent Cloud metadata' },
  {
    network: 'fd00:ec2::/32',
    class: 'metadata',
    name: 'AWS instance services (IPv6 metadata fd00:ec2::254, DNS, NTP, EKS Pod Identity)',
  },
  { network: 'fd20:ce::254/128', class: 'metadata', name: 'Google Compute Engine metadata (IPv6)' },
  { network: 'fd00:a9fe:a9fe::1/128', class: 'metadata', name: 'Akamai (Linode) metadata (IPv6)' },
  { network: 'fd00:42::42/128', class: 'metadata', name: 'Scaleway instance metadata (IPv6)' },
  { network: 'fd00:c1::a9fe:a9fe/128', class: 'metadata', name: 'Oracle Cloud metadata (IPv6)' },
  { network: 'fe80::a9fe:a9fe/128', class: 'metadata', name: 'OpenStack metadata (IPv6)' },

  { network: '::/0', class: 'special', name: 'outside global unicast 2000::/3 (RFC 4291)' },
  { network: '2000::/3', class: 'public', name: 'global unicast (RFC 4291)' },
  { network: '::/128', class: 'unroutable', name: 'unspecified (RFC 4291)' },
  { network: '::1/128', class: 'loopback', name: 'loopback (RFC 4291)' },
  { network: '::/96', class: 'unroutable', name: 'IPv4-compatible, deprecated (RFC 4291)' },
  { network: '::ffff:0:0/96', name: 'IPv4-mapped (RFC 4291)', carries: lastThirtyTwoBits },
  { network: '::ffff:0:0:0/96', name: 'IPv4-translated (RFC 2765)', carries: lastThirtyTwoBits },
  { network: '64:ff9b::/96', name: 'NAT64 well-known prefix (RFC 6052)', carries: lastThirtyTwoBits },
  // Where a local NAT64 puts the IPv4 address depends on its prefix length: any IPv4, metadata included, may hide here.
  { network: '64:ff9b:1::/48', class: 'special', name: 'local-use NAT64 (RFC 8215)', onlyFromWithin: true },
  { network: '100::/64', class: 'special', name: 'discard-only (RFC 6666)' },
  { network: '2001::/23', class: 'special', name: 'IETF protocol assignments (RFC 2928)' },
  {
    network: '2001::/32',
    name: 'Teredo (RFC 4380)',
    // The server's address, and the client's with every bit inverted.
    carries: (parts) => [ipv4Of(parts[2] ?? 0, parts[3] ?? 0), ipv4Of(~(parts[6] ?? 0), ~(parts[7] ?? 0))],
  },
  { network: '2001:db8::/32', class: 'special', name: 'documentation (RFC 3849)' },
  {
    network: '2002::/16',
    name: '6to4 (RFC 3056)',
    carries: (parts) => [ipv4Of(parts[1] ?? 0, parts[2] ?? 0)],
  },
  { network: '3fff::/20', class: 'special', name: 'documentation (RFC 9637)' },
  { network: '5f00::/16', class: 'special', name: 'segment routing SIDs (RFC 9602)' },
  { network: 'fc00::/7', class: 'unique_local', name: 'unique local (RFC 4193)' },
  { network: 'fe80::/10', class: 'link_local', name: 'link-local (RFC 4291)' },
  { network: 'fec0::/10', class: 'special', name: 'site-local, deprecated (RFC 3879)' },
  { network: 'ff00::/8', class: 'unroutable', name: 'multicast (RFC 4291)' },
];

/** What FETCH_ALLOW_PRIVATE_NETWORKS stands for: loopback, RFC 1918 and unique-local ranges, nothing more. */
const PRIVATE_NETWORKS: readonly string[] = [
  '127.0.0.0/8',
  '::1/128',
  '10.0.0.0/8',
  '172.16.0.0/12',
  '192.168.0.0/16',
  'fc00::/7',
];

interface Network {
  readonly address: Address;
  readonly prefix: number;
}

interface CompiledRange extends Network {
  readonly range: SpecialRange;
}

/**
 * An address as text (DNS answer, URL host, with or without brackets or a zone), parsed strictly. IPv6 text
 * goes through the URL parser first: ipaddr.js reads `::127.0.0.1` as `::ffff:127.0.0.1`, which it is not.
 */
function parseAddress(text: string): Address | undefined {
  const bare = text.replace(/^\[(.*)\]$/, '$1').replace(/%.*$/, '');
  switch (isIP(bare)) {
    case 4:
      return ipaddr.IPv4.parse(bare);
    case 6:
      return ipaddr.IPv6.parse(new URL(`http://[${bare}]/`).hostname.slice(1, -1));
    default:
      return undefined;
  }
}

/** `address/prefix` or a bare address. */
function parseNetwork(text: string): Network {
  const [addressText = '', prefixText, ...rest] = text.trim().split('/');
  const address = parseAddress(addressText);
  const bits = address?.kind() === 'ipv4' ? 32 : 128;
  const prefix = prefixText === undefined ? bits : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
  if (!address || rest.length > 0 || !(prefix <= bits)) {
    throw new Error(`"${text}" is not a network such as 10.1.0.0/16, fd12::/64 or 127.0.0.1`);
  }
  return { address, prefix };
}

/** An allow-list entry; one written as IPv4-mapped IPv6 is read as the IPv4 network it stands for. */
function parseEntry(text: string): Network {
  const network = parseNetwork(text);
  const { address, prefix } = network;
  if (address instanceof ipaddr.IPv6 && address.isIPv4MappedAddress() && prefix >= 96) {
    return { address: address.toIPv4Address(), prefix: prefix - 96 };
  }
  return network;
}

const contains = (network: Network, address: Address) =>
  network.address.kind() === address.kind() && address.match(network.address, network.prefix);

/** Most specific first, so the first range that holds an address is the one that decides. */
const COMPILED_RANGES: readonly CompiledRange[] = SPECIAL_RANGES.map((range) => ({
  ...parseNetwork(range.network),
  range,
})).sort((a, b) => b.prefix - a.prefix);

export interface AddressVerdict {
  readonly allowed: boolean;
  /** The class that decided: the address's own, or that of the IPv4 address it carries. */
  readonly class: AddressClass;
  /** The range that decided, for logs, e.g. "169.254.169.254/32 instance metadata (AWS, GCP, Azure, OpenStack…)". */
  readonly range: string;
}

export interface AddressPolicy {
  /** True when image and webhook fetches may connect to this address. */
  allows(address: string): boolean;
  /** The decision and its reason, for the server's log. */
  judge(address: string): AddressVerdict;
}

export interface AddressPolicySettings {
  /** FETCH_ALLOW_NETWORKS: networks (CIDR or single addresses) opened besides public addresses. */
  readonly allowNetworks: readonly string[];
  /** FETCH_ALLOW_PRIVATE_NETWORKS: an alias for PRIVATE_NETWORKS. */
  readonly allowPrivateNetworks: boolean;
}

/**
 * Which addresses fetches may reach. Public addresses always; loopback, private, unique-local and other special
 * ranges when an allow-list entry contains the address; link-local (and local-use NAT64, which may carry any
 * IPv4) only by entries lying inside that range, so 0.0.0.0/0 or ::/0 never opens them; metadata addresses only
 * by an entry naming exactly that address; unspecified, multicast, broadcast and IPv4-compatible IPv6 never.
 * IPv6 that carries IPv4 (mapped, translated, NAT64, 6to4, Teredo) is judged as the IPv4 inside, alone.
 */
export function createAddressPolicy(settings: AddressPolicySettings): AddressPolicy {
  const entries = [...settings.allowNetworks, ...(settings.allowPrivateNetworks ? PRIVATE_NETWORKS : [])].map(
    parseEntry,
  );
  const opens = (compiled: CompiledRange, address: Address): boolean => {
    const kind = compiled.range.class;
    const bits = address.kind() === 'ipv4' ? 32 : 128;
    const holding = entries.filter((entry) => contains(entry, address));
    switch (kind) {
      case 'public':
        return true;
      case 'unroutable':
        return false;
      case 'metadata':
        return holding.some((entry) => entry.prefix === bits);
      default:
        return kind === 'link_local' || compiled.range.onlyFromWithin
          ? holding.some((entry) => entry.prefix >= compiled.prefix && contains(compiled, entry.address))
          : holding.length > 0;
    }
  };
  const judgeAddress = (address: Address): AddressVerdict => {
    const compiled = COMPILED_RANGES.find((candidate) => contains(candidate, address));
    if (!compiled) return { allowed: true, class: 'public', range: 'public IPv4' };
    const { range } = compiled;
    const where = `${range.network} ${range.name}`;
    if (range.carries) {
      const inside = range
        .carries((address as ipaddr.IPv6).parts)
        .map((ipv4) => ({ ipv4, ...judgeAddress(ipv4) }));
      const decisive = inside.find((verdict) => !verdict.allowed) ?? inside[0];
      return decisive
        ? {
            allowed: decisive.allowed,
            class: decisive.class,
            range: `${where}, carrying ${decisive.ipv4.toString()} in ${decisive.range}`,
          }
        : { allowed: false, class: 'unroutable', range: where };
    }
    return { allowed: opens(compiled, address), class: range.class ?? 'special', range: where };
  };
  const judge = (text: string): AddressVerdict => {
    const address = parseAddress(text);
    return address
      ? judgeAddress(address)
      : { allowed: false, class: 'unroutable', range: 'not an IP address' };
  };
  return { allows: (address) => judge(address).allowed, judge };
}

/** The host of a URL when it is written as an IP address (URL parsing has already normalised 0x7f.1 etc.). */
export function literalAddress(hostname: string): string | undefined {
  const bare = hostname.replace(/^\[|\]$/g, '');
  return isIP(bare) ? bare : undefined;
}
