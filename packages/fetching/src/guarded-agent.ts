import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import type { LookupFunction } from 'node:net';
import { Agent } from 'undici';
import { isBlockedAddress, literalAddress } from './address-policy.js';
import { FetchError } from './fetch-errors.js';

export interface NetworkPolicy {
  /** Lift the address check (tests and local demos only). */
  readonly allowPrivateNetworks: boolean;
  /**
   * Addresses to treat as public although they are not. Not a setting: it lets tests and the benchmark run
   * the guard for real against servers on loopback (say 127.0.0.2) while every other address is judged.
   */
  readonly trustedAddresses?: readonly string[];
}

function isAllowed(address: string, policy: NetworkPolicy): boolean {
  return (
    policy.allowPrivateNetworks ||
    policy.trustedAddresses?.includes(address) === true ||
    !isBlockedAddress(address)
  );
}

/**
 * Resolves a host and keeps only the addresses the policy allows. The socket connects to an address this
 * function returned, so no later DNS answer can swap in another one.
 */
function guardedLookup(policy: NetworkPolicy): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
      if (error) {
        callback(error, '', 0);
        return;
      }
      const allowed = addresses.filter((entry) => isAllowed(entry.address, policy));
      const first = allowed[0];
      if (!first) {
        const blocked = new FetchError(
          'blocked_address',
          `${hostname} resolves to ${addresses.map((entry) => entry.address).join(', ')}, which is not a public address`,
        );
        callback(blocked as unknown as NodeJS.ErrnoException, '', 0);
        return;
      }
      if (options.all) (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, allowed);
      else callback(null, first.address, first.family);
    });
  };
}

/** Refuses a URL whose scheme is not http(s) or whose host is written as a blocked IP address. */
export function checkUrlTarget(url: URL, policy: NetworkPolicy): void {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new FetchError('unsupported_protocol', `${url.protocol.replace(':', '')} URLs are not fetched`);
  }
  const literal = literalAddress(url.hostname);
  if (literal && !isAllowed(literal, policy)) {
    throw new FetchError('blocked_address', `${literal} is not a public address`);
  }
}

export interface AgentOptions extends NetworkPolicy {
  readonly connectTimeoutMs: number;
  readonly connectionsPerOrigin: number;
}

/** A keep-alive connection pool whose every connection goes through the address check. */
export function createGuardedAgent(options: AgentOptions): Agent {
  return new Agent({
    connections: options.connectionsPerOrigin,
    keepAliveTimeout: 10_000,
    connect: { timeout: options.connectTimeoutMs, lookup: guardedLookup(options) },
  });
}
