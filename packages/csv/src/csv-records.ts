/**
 * CSV records read as Python's `csv` module reads them with its default dialect (the seed's language, and
 * what spreadsheet programs do): a quote inside a cell not quoted as a whole is a character of the cell, and
 * text after a cell's closing quote is kept as part of the cell. Line ends are LF, CRLF or CR. Unlike
 * Python, a quoted cell still open at the end of the file is an error (the rest of the file would be one
 * cell), as is a record longer than `maxRecordLength` characters.
 */

export interface CsvRecord {
  readonly cells: string[];
  /** The line of the file the record starts on. */
  readonly line: number;
}

/** Readings Python makes that a strict CSV reader refuses: said to the uploader as warnings. */
export interface CsvQuirks {
  /** First line where a quote stood inside a cell not quoted as a whole. */
  quoteInCell?: number;
  /** First line where text followed a cell's closing quote. */
  textAfterQuote?: number;
}

export class CsvRecordError extends Error {
  override name = 'CsvRecordError';
  constructor(
    readonly code: 'quote_not_closed' | 'record_too_long',
    readonly line: number,
    message: string,
  ) {
    super(message);
  }
}

enum State {
  StartRecord,
  StartField,
  InField,
  InQuotedField,
  QuoteInQuotedField,
  EatLineEnd,
}

/** End of a line, as Python's reader sees it after each line of the file. */
const EOL = -1;
const QUOTE = 34; // "
const COMMA = 44; // ,
const LF = 10;
const CR = 13;

/**
 * Feed it text in pieces (`push`), then `finish`; each call returns the records completed. Blank lines give
 * no record.
 */
export class CsvRecordReader {
  readonly quirks: CsvQuirks = {};
  private state = State.StartRecord;
  private field = '';
  private cells: string[] = [];
  private recordLength = 0;
  private line = 1;
  private recordLine = 1;
  /** A CR at the end of a piece: whether it ends the line depends on the next character. */
  private pendingCr = false;
  private started = false;
  private out: CsvRecord[] = [];

  constructor(private readonly maxRecordLength: number) {}

  push(text: string): CsvRecord[] {
    let start = 0;
    if (!this.started && text.length > 0) {
      this.started = true;
      if (text.charCodeAt(0) === 0xfeff) start = 1;
    }
    for (let index = start; index < text.length; index += 1) {
      const code = text.charCodeAt(index);
      if (this.pendingCr) {
        this.pendingCr = false;
        if (code !== LF) this.endOfLine();
      }
      this.char(code, text[index] as string);
      if (code === LF) this.endOfLine();
      else if (code === CR) this.pendingCr = true;
    }
    return this.take();
  }

  finish(): CsvRecord[] {
    if (this.pendingCr) {
      this.pendingCr = false;
      this.endOfLine();
    }
    if (this.state === State.InQuotedField) {
      throw new CsvRecordError('quote_not_closed', this.recordLine, 'a quoted cell is never closed');
    }
    if (this.state !== State.StartRecord) {
      // The last line had no line end.
      this.char(EOL, '');
    }
    return this.take();
  }

  private take(): CsvRecord[] {
    const out = this.out;
    this.out = [];
    return out;
  }

  private endOfLine(): void {
    this.char(EOL, '');
    this.line += 1;
  }

  private add(character: string): void {
    this.field += character;
    this.recordLength += 1;
    if (this.recordLength > this.maxRecordLength) {
      throw new CsvRecordError(
        'record_too_long',
        this.recordLine,
        `a row longer than ${Math.round(this.maxRecordLength / 1024)} KiB (an unclosed quote?)`,
      );
    }
  }

  private saveField(): void {
    this.cells.push(this.field);
    this.field = '';
  }

  private endRecord(): void {
    this.out.push({ cells: this.cells, line: this.recordLine });
    this.cells = [];
    this.recordLength = 0;
  }

  /** A line end outside quotes: the cell ends, and the record with it (at once, or once the line end is eaten). */
  private endLine(code: number): void {
    this.saveField();
    if (code === EOL) {
      this.endRecord();
      this.state = State.StartRecord;
    } else {
      this.state = State.EatLineEnd;
    }
  }

  private char(code: number, character: string): void {
    switch (this.state) {
      case State.StartRecord:
        if (code === EOL) return;
        if (code === LF || code === CR) {
          this.state = State.EatLineEnd;
          return;
        }
        this.recordLine = this.line;
        this.state = State.StartField;
        this.char(code, character);
        return;
      case State.StartField:
        if (code === LF || code === CR || code === EOL) {
          this.endLine(code);
        } else if (code === QUOTE) {
          this.state = State.InQuotedField;
        } else if (code === COMMA) {
          this.saveField();
        } else {
          this.add(character);
          this.state = State.InField;
        }
        return;
      case State.InField:
        if (code === LF || code === CR || code === EOL) {
          this.endLine(code);
        } else if (code === COMMA) {
          this.saveField();
          this.state = State.StartField;
        } else {
          if (code === QUOTE) this.quirks.quoteInCell ??= this.line;
          this.add(character);
        }
        return;
      case State.InQuotedField:
        if (code === EOL) return;
        if (code === QUOTE) this.state = State.QuoteInQuotedField;
        else this.add(character);
        return;
      case State.QuoteInQuotedField:
        if (code === QUOTE) {
          this.add('"');
          this.state = State.InQuotedField;
        } else if (code === COMMA) {
          this.saveField();
          this.state = State.StartField;
        } else if (code === LF || code === CR || code === EOL) {
          this.endLine(code);
        } else {
          this.quirks.textAfterQuote ??= this.line;
          this.add(character);
          this.state = State.InField;
        }
        return;
      case State.EatLineEnd:
        if (code === EOL) {
          if (this.cells.length > 0) this.endRecord();
          this.state = State.StartRecord;
        }
        return;
    }
  }
}
