/** Byte-level checks that come before CSV parsing: what kind of file this is, and whether it is UTF-8 text. */

export type InputProblem = { readonly code: 'csv_not_utf8' | 'csv_binary'; readonly message: string };

const SIGNATURES: readonly { bytes: readonly number[]; message: string; code: InputProblem['code'] }[] = [
  {
    bytes: [0xff, 0xfe],
    code: 'csv_not_utf8',
    message: 'the file is UTF-16 text; save it as CSV UTF-8 and try again',
  },
  {
    bytes: [0xfe, 0xff],
    code: 'csv_not_utf8',
    message: 'the file is UTF-16 text; save it as CSV UTF-8 and try again',
  },
  {
    bytes: [0x50, 0x4b, 0x03, 0x04],
    code: 'csv_binary',
    message: 'the file is a ZIP archive (an Excel workbook?); export the sheet as CSV UTF-8 and try again',
  },
  {
    bytes: [0xd0, 0xcf, 0x11, 0xe0],
    code: 'csv_binary',
    message: 'the file is an old Excel (.xls) workbook; export the sheet as CSV UTF-8 and try again',
  },
  { bytes: [0x25, 0x50, 0x44, 0x46], code: 'csv_binary', message: 'the file is a PDF, not CSV text' },
];

/** Checks the stream chunk by chunk: a recognised binary format, NUL bytes, or bytes that are not UTF-8. */
export class InputInspector {
  private readonly decoder = new TextDecoder('utf-8', { fatal: true });
  private offset = 0;
  private head = Buffer.alloc(0);

  /** The problem these bytes show, if any. */
  inspect(chunk: Buffer): InputProblem | undefined {
    if (this.head.length < 4) {
      this.head = Buffer.concat([this.head, chunk.subarray(0, 4 - this.head.length)]);
      const signature = SIGNATURES.find((candidate) =>
        candidate.bytes.every((byte, index) => this.head[index] === byte),
      );
      if (signature) return { code: signature.code, message: signature.message };
    }
    const nul = chunk.indexOf(0);
    if (nul !== -1) {
      return {
        code: 'csv_binary',
        message: `the file holds binary data (a NUL byte at byte ${this.offset + nul + 1}), not CSV text`,
      };
    }
    this.offset += chunk.length;
    try {
      this.decoder.decode(chunk, { stream: true });
    } catch {
      return {
        code: 'csv_not_utf8',
        message:
          'the file is not valid UTF-8 text (Latin-1 or Windows-1252?); save it as CSV UTF-8 and try again',
      };
    }
    return undefined;
  }

  /** The end of the input: it must not stop in the middle of a UTF-8 character. */
  finish(): InputProblem | undefined {
    try {
      this.decoder.decode();
      return undefined;
    } catch {
      return { code: 'csv_not_utf8', message: 'the file ends in the middle of a UTF-8 character' };
    }
  }
}
