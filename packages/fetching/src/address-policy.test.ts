import { describe, expect, it } from 'vitest';
import { type AddressClass, createAddressPolicy, literalAddress } from './address-policy.js';

// Pure classification of address strings: nothing here connects anywhere.
const publicOnly = createAddressPolicy({ allowNetworks: [], allowPrivateNetworks: false });
const privateAlias = createAddressPolicy({ allowNetworks: [], allowPrivateNetworks: true });
const everything = createAddressPolicy({ allowNetworks: ['0.0.0.0/0', '::/0'], allowPrivateNetworks: true });
const allowing = (...allowNetworks: string[]) =>
  createAddressPolicy({ allowNetworks, allowPrivateNetworks: false });

describe('the default policy: public addresses only', () => {
  it.each<[string, AddressClass]>([
    ['8.8.8.8', 'public'],
    ['93.184.216.34', 'public'],
    ['2606:4700:4700::1111', 'public'],
    ['2a00:1450:4001:830::200e', 'public'],
    ['::ffff:8.8.8.8', 'public'],
    ['64:ff9b::808:808', 'public'], // NAT64 of 8.8.8.8
    ['2002:808:808::1', 'public'], // 6to4 of 8.8.8.8
    ['2001:0:4136:e378:8000:63bf:f7f7:f7f7', 'public'], // Teredo: server 65.54.227.120, client 8.8.8.8
  ])('allows %s (%s)', (address, kind) => {
    expect(publicOnly.judge(address)).toMatchObject({ allowed: true, class: kind });
    expect(publicOnly.allows(address)).toBe(true);
  });

  it.each<[string, AddressClass]>([
    ['127.0.0.1', 'loopback'],
    ['127.1.2.3', 'loopback'],
    ['10.0.0.1', 'private'],
    ['172.16.5.4', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.1.1', 'link_local'],
    // Finding 4: cloud metadata and credential endpoints.
    ['169.254.169.254', 'metadata'],
    ['169.254.170.2', 'metadata'],
    ['169.254.170.23', 'metadata'],
    ['100.100.100.200', 'metadata'],
    ['168.63.129.16', 'metadata'],
    ['192.0.0.192', 'metadata'],
    ['fd00:ec2::254', 'metadata'],
    ['fd00:ec2::23', 'metadata'],
    ['fd20:ce::254', 'metadata'],
    ['fd00:ec2::253', 'metadata'],
    ['169.254.42.42', 'metadata'],
    ['169.254.0.23', 'metadata'],
    ['fd00:a9fe:a9fe::1', 'metadata'],
    ['fd00:42::42', 'metadata'],
    ['fd00:c1::a9fe:a9fe', 'metadata'],
    ['fe80::a9fe:a9fe', 'metadata'],
    ['100.64.0.1', 'special'],
    ['192.0.0.8', 'special'],
    ['192.0.2.10', 'special'],
    ['198.18.0.1', 'special'],
    ['203.0.113.7', 'special'],
    ['240.0.0.1', 'special'],
    ['0.0.0.0', 'unroutable'],
    ['0.1.2.3', 'unroutable'],
    ['224.0.0.1', 'unroutable'],
    ['255.255.255.255', 'unroutable'],
    ['::1', 'loopback'],
    ['[::1]', 'loopback'],
    ['::', 'unroutable'],
    // Finding 5: IPv4-compatible IPv6 (::/96), however it is written.
    ['::127.0.0.1', 'unroutable'],
    ['::7f00:1', 'unroutable'],
    ['[::7f00:1]', 'unroutable'],
    ['::a9fe:a9fe', 'unroutable'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:169.254.169.254', 'metadata'],
    ['::ffff:0:a00:1', 'private'], // IPv4-translated 10.0.0.1
    ['fe80::1', 'link_local'],
    ['fe80::1%eth0', 'link_local'],
    ['fc00::1', 'unique_local'],
    ['fd12:3456::1', 'unique_local'],
    ['ff02::1', 'unroutable'],
    ['fec0::1', 'special'],
    ['64:ff9b::a00:1', 'private'], // NAT64 of 10.0.0.1
    ['64:ff9b::7f00:1', 'loopback'], // NAT64 of 127.0.0.1
    ['64:ff9b::a9fe:a9fe', 'metadata'], // NAT64 of 169.254.169.254
    ['64:ff9b:1::1', 'special'],
    ['2002:a00:1::1', 'private'], // 6to4 of 10.0.0.1
    ['2002:a9fe:a9fe::1', 'metadata'], // 6to4 of 169.254.169.254
    ['2001:0:4136:e378:8000:63bf:f5ff:fffe', 'private'], // Teredo client 10.0.0.1
    ['2001:0:a00:1:8000:63bf:f7f7:f7f7', 'private'], // Teredo server 10.0.0.1
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'special'], // Teredo client 192.0.2.45 (documentation)
    ['2001:db8::1', 'special'],
    ['2001:2::1', 'special'],
    ['3fff::1', 'special'],
    ['100::1', 'special'],
    ['5f00::1', 'special'],
    ['4000::1', 'special'],
    ['not-an-address', 'unroutable'],
    ['127.1', 'unroutable'],
  ])('refuses %s (%s)', (address, kind) => {
    expect(publicOnly.judge(address)).toMatchObject({ allowed: false, class: kind });
    expect(publicOnly.allows(address)).toBe(false);
  });
});

describe('FETCH_ALLOW_PRIVATE_NETWORKS: loopback, RFC 1918 and unique-local only', () => {
  it.each([
    '127.0.0.1',
    '127.9.9.9',
    '::1',
    '::ffff:127.0.0.1',
    '10.1.2.3',
    '172.31.255.255',
    '192.168.0.1',
    'fd12::1',
    '64:ff9b::a00:1',
  ])('allows %s', (address) => {
    expect(privateAlias.allows(address)).toBe(true);
  });

  it.each([
    '169.254.169.254',
    '169.254.170.2',
    '192.0.0.192',
    '168.63.129.16',
    '100.100.100.200',
    'fd00:ec2::254',
    'fd00:ec2::23',
    'fd20:ce::254',
    '169.254.1.1',
    'fe80::1',
    '::ffff:169.254.169.254',
    '64:ff9b::a9fe:a9fe',
    '2002:a9fe:a9fe::1',
    '100.64.0.1',
    '0.0.0.0',
    '::',
    '::127.0.0.1',
    '::7f00:1',
    '224.0.0.1',
  ])('still refuses %s', (address) => {
    expect(privateAlias.allows(address)).toBe(false);
  });
});

describe('FETCH_ALLOW_NETWORKS', () => {
  it('opens exactly the networks it names', () => {
    const standIn = allowing('127.0.0.2/32');
    expect(standIn.allows('127.0.0.2')).toBe(true);
    expect(standIn.allows('::ffff:127.0.0.2')).toBe(true);
    expect(standIn.allows('127.0.0.1')).toBe(false);
    expect(standIn.allows('::1')).toBe(false);
    const internal = allowing('10.20.0.0/16', 'fd12:3456::/32');
    expect(internal.allows('10.20.30.40')).toBe(true);
    expect(internal.allows('10.21.0.1')).toBe(false);
    expect(internal.allows('fd12:3456::1')).toBe(true);
    expect(internal.allows('fd12:3457::1')).toBe(false);
  });

  it('opens a metadata address only when an entry names exactly that address', () => {
    expect(allowing('169.254.169.254/32').allows('169.254.169.254')).toBe(true);
    expect(allowing('::ffff:169.254.169.254/128').allows('169.254.169.254')).toBe(true);
    expect(allowing('169.254.169.254/32').allows('169.254.170.2')).toBe(false);
    expect(allowing('169.254.169.254/32').allows('169.254.169.253')).toBe(false);
    expect(allowing('169.254.169.254/31').allows('169.254.169.254')).toBe(false);
    expect(allowing('169.254.0.0/16').allows('169.254.169.254')).toBe(false);
    expect(allowing('fd00:ec2::254/128').allows('fd00:ec2::254')).toBe(true);
    expect(allowing('fd00:ec2::/32').allows('fd00:ec2::254')).toBe(false);
    expect(allowing('fc00::/7').allows('fd20:ce::254')).toBe(false);
    expect(allowing('168.63.129.0/24').allows('168.63.129.16')).toBe(false);
  });

  it('keeps every metadata address shut to the alias and to whole private or link-local ranges', () => {
    const metadata = [
      '169.254.169.254',
      '169.254.170.2',
      '169.254.170.23',
      '169.254.42.42',
      '169.254.0.23',
      '100.100.100.200',
      '168.63.129.16',
      '192.0.0.192',
      'fd00:ec2::254',
      'fd00:ec2::23',
      'fd00:ec2::253',
      'fd20:ce::254',
      'fd00:a9fe:a9fe::1',
      'fd00:42::42',
      'fd00:c1::a9fe:a9fe',
      'fe80::a9fe:a9fe',
    ];
    const broad = [
      createAddressPolicy({ allowNetworks: [], allowPrivateNetworks: true }),
      allowing('fc00::/7', 'fd00::/8', '169.254.0.0/16', 'fe80::/10', '100.64.0.0/10', '168.63.129.0/24'),
      allowing('0.0.0.0/0', '::/0', '192.0.0.0/24'),
    ];
    for (const policy of broad) {
      for (const address of metadata) expect(policy.allows(address), address).toBe(false);
    }
    for (const address of metadata) {
      const bits = address.includes(':') ? 128 : 32;
      expect(allowing(`${address}/${bits}`).allows(address), address).toBe(true);
    }
  });

  it('opens link-local addresses only by entries inside the link-local range', () => {
    expect(allowing('169.254.0.0/16').allows('169.254.1.1')).toBe(true);
    expect(allowing('169.254.1.0/24').allows('169.254.1.1')).toBe(true);
    expect(allowing('169.254.1.0/24').allows('169.254.2.1')).toBe(false);
    expect(allowing('169.0.0.0/8').allows('169.254.1.1')).toBe(false);
    expect(allowing('fe80::/10').allows('fe80::1')).toBe(true);
    expect(allowing('fe80::/64').allows('fe80::1')).toBe(true);
    expect(allowing('fe00::/7').allows('fe80::1')).toBe(false);
  });

  it('never opens link-local, metadata or unroutable addresses by allowing everything', () => {
    for (const address of [
      '169.254.1.1',
      'fe80::1',
      '169.254.169.254',
      'fd00:ec2::254',
      '192.0.0.192',
      '0.0.0.0',
      '::',
      '::127.0.0.1',
      '224.0.0.1',
      'ff02::1',
      '255.255.255.255',
      '64:ff9b:1::1',
    ]) {
      expect(everything.allows(address), address).toBe(false);
    }
    for (const address of ['100.64.0.1', '192.0.2.1', '2001:db8::1', '4000::1', '10.0.0.1', 'fd12::1']) {
      expect(everything.allows(address), address).toBe(true);
    }
    expect(allowing('0.0.0.0/8', '::/96', '224.0.0.0/4').allows('0.0.0.0')).toBe(false);
    expect(allowing('0.0.0.0/8', '::/96', '224.0.0.0/4').allows('::7f00:1')).toBe(false);
  });

  it('judges NAT64, 6to4 and Teredo addresses by the IPv4 addresses they carry', () => {
    const internal = allowing('10.0.0.0/8');
    expect(internal.allows('64:ff9b::a00:1')).toBe(true);
    expect(internal.allows('2002:a00:1::1')).toBe(true);
    expect(allowing('2002::/16').allows('2002:a00:1::1')).toBe(false);
    expect(allowing('64:ff9b::/96').allows('64:ff9b::a9fe:a9fe')).toBe(false);
    // A public Teredo server does not make a private client reachable, nor the other way round.
    expect(publicOnly.allows('2001:0:4136:e378:8000:63bf:f5ff:fffe')).toBe(false);
    expect(publicOnly.allows('2001:0:a00:1:8000:63bf:f7f7:f7f7')).toBe(false);
  });

  it('refuses an entry that is not a network', () => {
    expect(() => allowing('10.0.0.0/33')).toThrow(/10\.0\.0\.0\/33/);
    expect(() => allowing('intranet')).toThrow(/intranet/);
  });
});

describe('literalAddress', () => {
  it('sees through the numeric spellings URL parsing normalises', () => {
    for (const spelling of ['http://2130706433/', 'http://0x7f.1/', 'http://0177.0.0.1/', 'http://127.1/']) {
      expect(literalAddress(new URL(spelling).hostname)).toBe('127.0.0.1');
    }
    expect(literalAddress(new URL('http://[::ffff:7f00:1]/').hostname)).toBe('::ffff:7f00:1');
    expect(literalAddress(new URL('http://[::127.0.0.1]/').hostname)).toBe('::7f00:1');
    expect(literalAddress('images.example.com')).toBeUndefined();
  });
});
