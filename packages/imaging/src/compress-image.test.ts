import { crc32, deflateSync } from 'node:zlib';
import sharp, { type Sharp } from 'sharp';
import { describe, expect, it } from 'vitest';
import { standardJpegQuality } from '../../../test/support/jpeg-quality.js';
import { compressImage, ImageError, planCompression, sniffOutputFormat } from './compress-image.js';

const policy = { quality: 50, maxPixels: 50_000_000 };

/** Gradient plus noise: compresses like a photo, unlike a flat colour. */
async function photo(width: number, height: number): Promise<Sharp> {
  const pixels = Buffer.alloc(width * height * 3);
  let seed = 12345;
  for (let index = 0; index < pixels.length; index += 1) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    pixels[index] = ((index % (width * 3)) / 3 / width) * 200 + (seed % 40);
  }
  return sharp(pixels, { raw: { width, height, channels: 3 } });
}

/** The chunks of a PNG file, in order (after the 8-byte signature: length, type, data, CRC). */
function pngChunks(png: Uint8Array): { type: string; data: Uint8Array }[] {
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  const chunks: { type: string; data: Uint8Array }[] = [];
  for (let offset = 8; offset + 12 <= png.length; ) {
    const length = view.getUint32(offset);
    const type = String.fromCharCode(...png.subarray(offset + 4, offset + 8));
    chunks.push({ type, data: png.subarray(offset + 8, offset + 8 + length) });
    offset += 12 + length;
  }
  return chunks;
}

async function refusal(bytes: Buffer, custom = policy): Promise<ImageError> {
  try {
    await compressImage(bytes, custom);
  } catch (error) {
    if (error instanceof ImageError) return error;
    throw error;
  }
  throw new Error('the image was accepted');
}

describe('compressImage', () => {
  it('re-encodes a JPEG at libjpeg quality 50 with the standard tables, same size, fewer bytes', async () => {
    const input = await (await photo(640, 480)).jpeg({ quality: 90 }).toBuffer();
    expect(standardJpegQuality(input)).toBe(90);
    const output = await compressImage(input, policy);
    expect(output).toMatchObject({ format: 'jpeg', width: 640, height: 480 });
    expect(standardJpegQuality(output.data)).toBe(50);
    expect(output.data.length).toBeLessThan(input.length);
  });

  it('honours another quality setting', async () => {
    const input = await (await photo(64, 64)).jpeg({ quality: 95 }).toBuffer();
    expect(standardJpegQuality((await compressImage(input, { ...policy, quality: 75 })).data)).toBe(75);
  });

  it('applies the EXIF orientation and strips the metadata', async () => {
    const input = await (await photo(300, 200))
      .jpeg({ quality: 90 })
      .withMetadata({ orientation: 6 })
      .toBuffer();
    const output = await compressImage(input, policy);
    expect([output.width, output.height]).toEqual([200, 300]);
    const metadata = await sharp(output.data).metadata();
    expect(metadata.orientation).toBeUndefined();
    expect(metadata.exif).toBeUndefined();
  });

  it('keeps PNG as a palette PNG, transparency included', async () => {
    const input = await (await photo(120, 80)).ensureAlpha(0.5).png().toBuffer();
    expect(pngChunks(input).find((chunk) => chunk.type === 'IHDR')?.data[9]).toBe(6);
    const output = await compressImage(input, policy);
    expect(output).toMatchObject({ format: 'png', width: 120, height: 80 });
    const chunks = pngChunks(output.data);
    // IHDR colour type 3: indexed colour, the pixels are palette entries.
    expect(chunks[0]?.type).toBe('IHDR');
    expect(chunks[0]?.data[9]).toBe(3);
    // The palette comes before the pixels, and the transparency of its entries with it.
    const types = chunks.map((chunk) => chunk.type);
    expect(types.indexOf('PLTE')).toBeGreaterThan(0);
    expect(types.indexOf('tRNS')).toBeGreaterThan(types.indexOf('PLTE'));
    expect(types.indexOf('IDAT')).toBeGreaterThan(types.indexOf('tRNS'));
    const metadata = await sharp(output.data).metadata();
    expect(metadata).toMatchObject({ format: 'png', isPalette: true, hasAlpha: true });
    expect(output.data.length).toBeLessThan(input.length);
  });

  it('keeps WebP as WebP and turns TIFF into JPEG', async () => {
    const webp = await compressImage(await (await photo(100, 60)).webp({ quality: 95 }).toBuffer(), policy);
    expect(webp).toMatchObject({ format: 'webp', width: 100, height: 60 });
    expect((await sharp(webp.data).metadata()).format).toBe('webp');
    const tiff = await compressImage(await (await photo(100, 60)).tiff().toBuffer(), policy);
    expect(tiff).toMatchObject({ format: 'jpeg', width: 100, height: 60 });
    expect(standardJpegQuality(tiff.data)).toBe(50);
  });

  it('turns a TIFF with transparency into a palette PNG that keeps it', async () => {
    // LZW: TIFF's default JPEG compression cannot hold an alpha channel.
    const input = await (await photo(90, 70)).ensureAlpha(0.4).tiff({ compression: 'lzw' }).toBuffer();
    expect((await sharp(input).metadata()).hasAlpha).toBe(true);
    const output = await compressImage(input, policy);
    expect(output).toMatchObject({ format: 'png', width: 90, height: 70 });
    const metadata = await sharp(output.data).metadata();
    expect([metadata.format, metadata.isPalette, metadata.hasAlpha]).toEqual(['png', true, true]);
    // Every pixel was 40% opaque; the palette keeps them all see-through, near that opacity.
    const [alpha] = (await sharp(output.data).extractChannel(3).stats()).channels;
    expect(alpha?.max).toBeLessThan(255);
    expect(Math.abs((alpha?.mean ?? 0) - 0.4 * 255)).toBeLessThan(25);
  });

  it('keeps AVIF as AVIF and an animated GIF animated, frame size unchanged', async () => {
    const avif = await compressImage(await (await photo(64, 48)).avif({ quality: 90 }).toBuffer(), policy);
    expect(avif).toMatchObject({ format: 'avif', width: 64, height: 48 });
    expect((await sharp(avif.data).metadata()).compression).toBe('av1');

    const frames = await Promise.all(
      [0, 1, 2].map(async (shade) =>
        sharp({
          create: { width: 40, height: 30, channels: 3, background: { r: shade * 100, g: 50, b: 50 } },
        })
          .raw()
          .toBuffer(),
      ),
    );
    const animation = await sharp(Buffer.concat(frames), {
      raw: { width: 40, height: 90, channels: 3, pageHeight: 30 },
    })
      .gif({ delay: [100, 100, 100] })
      .toBuffer();
    const gif = await compressImage(animation, policy);
    expect(gif).toMatchObject({ format: 'gif', width: 40, height: 30 });
    const metadata = await sharp(gif.data).metadata();
    expect([metadata.format, metadata.width, metadata.height, metadata.pages]).toEqual(['gif', 40, 30, 3]);
    expect(metadata.delay).toEqual([100, 100, 100]);
  });

  it('reads the output format from the signature exactly where the decoder would decide the same', async () => {
    const base = await photo(40, 30);
    const inputs = {
      jpeg: await base.clone().jpeg().toBuffer(),
      png: await base.clone().png().toBuffer(),
      webp: await base.clone().webp().toBuffer(),
      gif: await base.clone().gif().toBuffer(),
      avif: await base.clone().avif().toBuffer(),
    };
    for (const [format, bytes] of Object.entries(inputs)) {
      expect(sniffOutputFormat(bytes)).toBe(format);
      expect((await planCompression(bytes, policy)).output).toBe(format);
    }
    // TIFF becomes JPEG or PNG depending on its transparency: only the decoder can say.
    expect(sniffOutputFormat(await base.clone().tiff().toBuffer())).toBeUndefined();
    expect(sniffOutputFormat(Buffer.from('<!doctype html>'))).toBeUndefined();
    expect(sniffOutputFormat(Buffer.alloc(0))).toBeUndefined();
  });

  it('decides the format from the bytes, whatever the content was called', async () => {
    const html = Buffer.from('<!doctype html><html><body>not a picture</body></html>');
    expect((await refusal(html)).code).toBe('not_an_image');
  });

  it('refuses SVG, HEIC (HEVC), PDF and camera RAW files as unsupported formats', async () => {
    const svg = Buffer.from(
      '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="30"><rect width="40" height="30"/></svg>',
    );
    // HEIC is AVIF's container with HEVC inside: the decoder tells them apart by the file's brand.
    const avif = await (await photo(40, 30)).avif().toBuffer();
    const heic = Buffer.from(avif.toString('latin1').replaceAll('avif', 'heic'), 'latin1');
    const pdf = Buffer.from(
      '%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n',
    );
    const tiff = await (await photo(40, 30)).tiff().toBuffer();
    // Canon CR2: a TIFF whose header carries "CR" and a version after the first IFD's offset.
    const cr2 = Buffer.concat([tiff.subarray(0, 8), Buffer.from('CR\x02\x00', 'latin1'), tiff.subarray(12)]);
    const fuji = Buffer.concat([Buffer.from('FUJIFILMCCD-RAW 0201FF383501', 'latin1'), Buffer.alloc(200)]);
    // Canon CR3 (an ISO box file of brand "crx "), Olympus ORF and Panasonic RW2 (TIFF-like with their own magic).
    const cr3 = Buffer.concat([
      Buffer.from('\x00\x00\x00\x18ftypcrx \x00\x00\x00\x01crx isom', 'latin1'),
      Buffer.alloc(200),
    ]);
    const orf = Buffer.concat([Buffer.from('IIRO\x08\x00\x00\x00', 'latin1'), Buffer.alloc(200)]);
    const rw2 = Buffer.concat([Buffer.from('IIU\x00\x18\x00\x00\x00', 'latin1'), Buffer.alloc(200)]);
    const refused = {
      svg: await refusal(svg),
      heic: await refusal(heic),
      pdf: await refusal(pdf),
      cr2: await refusal(cr2),
      raf: await refusal(fuji),
      cr3: await refusal(cr3),
      orf: await refusal(orf),
      rw2: await refusal(rw2),
    };
    expect(Object.fromEntries(Object.entries(refused).map(([name, error]) => [name, error.code]))).toEqual({
      svg: 'unsupported_format',
      heic: 'unsupported_format',
      pdf: 'unsupported_format',
      cr2: 'unsupported_format',
      raf: 'unsupported_format',
      cr3: 'unsupported_format',
      orf: 'unsupported_format',
      rw2: 'unsupported_format',
    });
    expect(refused.svg.message).toBe('svg images are not supported');
    expect(refused.heic.message).toBe('heic images are not supported');
    expect(refused.pdf.message).toBe('pdf images are not supported');
    expect(refused.cr2.message).toBe('raw images are not supported');
  });

  it('refuses an image with more pixels than allowed before decoding it', async () => {
    const input = await (await photo(200, 100)).png().toBuffer();
    const error = await refusal(input, { quality: 50, maxPixels: 10_000 });
    expect(error.code).toBe('too_many_pixels');
    expect(error.message).toBe('200x100 is more than 10000 pixels');
  });

  it('refuses a pixel bomb from its header alone: a 120-byte PNG that declares 100,000 x 100,000 pixels', async () => {
    const chunk = (type: string, data: Buffer) => {
      const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
      const length = Buffer.alloc(4);
      length.writeUInt32BE(data.length);
      const crc = Buffer.alloc(4);
      crc.writeUInt32BE(crc32(body));
      return Buffer.concat([length, body, crc]);
    };
    const header = Buffer.alloc(13);
    header.writeUInt32BE(100_000, 0);
    header.writeUInt32BE(100_000, 4);
    header.set([8, 2, 0, 0, 0], 8);
    const bomb = Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      chunk('IHDR', header),
      chunk('IDAT', deflateSync(Buffer.alloc(1000))),
      chunk('IEND', Buffer.alloc(0)),
    ]);
    expect(bomb.length).toBeLessThan(200);
    const started = process.cpuUsage();
    const error = await refusal(bomb);
    expect(error.code).toBe('too_many_pixels');
    expect(error.message).toBe('100000x100000 is more than 50000000 pixels');
    const used = process.cpuUsage(started);
    expect(used.user + used.system).toBeLessThan(1_000_000);
  });

  it('converts colours from an embedded profile to sRGB and keeps no other metadata', async () => {
    // sRGB (60, 160, 90) written as Display P3: the file holds other numbers and a P3 profile.
    const p3 = await sharp({
      create: { width: 32, height: 32, channels: 3, background: { r: 60, g: 160, b: 90 } },
    })
      .withIccProfile('p3')
      .withExif({ IFD0: { Copyright: 'someone', Software: 'camera' } })
      .jpeg({ quality: 95 })
      .toBuffer();
    const storedPixel = async (bytes: Buffer) => [
      ...(await sharp(bytes, { ignoreIcc: true }).raw().toBuffer()).subarray(0, 3),
    ];
    expect((await sharp(p3).metadata()).icc).toBeDefined();
    const inP3 = await storedPixel(p3);
    expect(Math.abs((inP3[0] ?? 0) - 60)).toBeGreaterThan(15);

    const output = await compressImage(p3, policy);
    const metadata = await sharp(output.data).metadata();
    expect(metadata.exif).toBeUndefined();
    expect(metadata.icc).toBeUndefined();
    const inOutput = await storedPixel(output.data);
    for (const [index, expected] of [60, 160, 90].entries()) {
      expect(Math.abs((inOutput[index] ?? 0) - expected)).toBeLessThanOrEqual(4);
    }
  });

  it('reports an image whose data is corrupt as a decode error', async () => {
    const input = await (await photo(200, 100)).jpeg().toBuffer();
    const corrupt = Buffer.concat([input.subarray(0, 400), Buffer.alloc(2000, 0xff)]);
    const error = await refusal(corrupt);
    expect(error.code).toBe('decode_error');
  });
});
