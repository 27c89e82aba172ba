import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions } from 'node:dns';
import type { LookupFunction } from 'node:net';
import { Agent } from 'undici';
import { type AddressPolicy, literalAddress } from './address-policy.js';
import { blockedAddress, FetchError } from './fetch-errors.js';

/** "10.0.0.5 (private)": how a refused address appears in the server's log. */
function described(policy: AddressPolicy, address: string): string {
  return `${address} (${policy.judge(address).class})`;
}

/** How a host name becomes its addresses: every address it has, with node:dns lookup's arguments. */
export type HostLookup = (
  hostname: string,
  options: LookupAllOptions,
  callback: (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

/** The system resolver (getaddrinfo: /etc/hosts, then DNS). */
const systemLookup: HostLookup = (hostname, options, callback) => dnsLookup(hostname, options, callback);

/**
 * Resolves a host and keeps only the addresses the policy allows. The socket connects to an address this
 * function returned, so no later DNS answer can swap in another one.
 */
function guardedLookup(policy: AddressPolicy, lookup: HostLookup): LookupFunction {
  return (hostname, options, callback) => {
    lookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) {
        // A name that does not exist fails as one that resolves to a refused address: otherwise a tenant could
        // tell which internal names exist. A temporary failure (EAI_AGAIN) stays itself, to be retried.
        const missing = error.code === 'ENOTFOUND' || error.code === 'ENODATA';
        const failure = missing ? blockedAddress(`${hostname} does not resolve (${error.code})`) : error;
        callback(failure as NodeJS.ErrnoException, '', 0);
        return;
      }
      const allowed = addresses.filter((entry) => policy.allows(entry.address));
      const first = allowed[0];
      if (!first) {
        const resolved = addresses.map((entry) => described(policy, entry.address)).join(', ');
        const blocked = blockedAddress(`${hostname} resolves to ${resolved}`);
        callback(blocked as unknown as NodeJS.ErrnoException, '', 0);
        return;
      }
      if (options.all) (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, allowed);
      else callback(null, first.address, first.family);
    });
  };
}

/** Refuses a URL whose scheme is not http(s) or whose host is written as an address the policy refuses. */
export function checkUrlTarget(url: URL, policy: AddressPolicy): void {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new FetchError('unsupported_protocol', `${url.protocol.replace(':', '')} URLs are not fetched`);
  }
  const literal = literalAddress(url.hostname);
  if (literal && !policy.allows(literal)) {
    throw blockedAddress(`${url.hostname} is in ${policy.judge(literal).range}`);
  }
}

export interface AgentOptions {
  readonly addressPolicy: AddressPolicy;
  readonly connectTimeoutMs: number;
  readonly connectionsPerOrigin: number;
  /** How host names are resolved; the system resolver unless given. */
  readonly lookup?: HostLookup;
}

/** A keep-alive connection pool whose every connection goes through the address check. */
export function createGuardedAgent(options: AgentOptions): Agent {
  return new Agent({
    connections: options.connectionsPerOrigin,
    keepAliveTimeout: 10_000,
    connect: {
      timeout: options.connectTimeoutMs,
      lookup: guardedLookup(options.addressPolicy, options.lookup ?? systemLookup),
    },
  });
}
