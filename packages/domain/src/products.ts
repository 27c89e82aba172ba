/** The three columns every product CSV has, by role. */
export type ColumnRole = 'serial_number' | 'product_name' | 'input_image_urls';

/** A column of the uploaded header: as the client wrote it (echoed in the result), and what it holds. */
export interface InputColumn {
  readonly name: string;
  readonly role: ColumnRole;
}

/** Something an accepted file needed read in a way of its own, said to its uploader: nothing is silently reinterpreted. */
export interface ReadingWarning {
  readonly line: number;
  readonly message: string;
}

/** One product as uploaded. */
export interface ProductInput {
  /** 1-based position among the data rows; the result keeps this order. */
  readonly row: number;
  readonly serialNumber: number;
  readonly productName: string;
  readonly inputUrls: readonly string[];
  /** The URL cell as it was written, echoed in the result (absent for products stored before it was kept). */
  readonly inputCell?: string;
}
