export { type ColumnRole, EXPECTED_HEADER, headerKey, type InputColumn, readHeader } from './header.js';
export {
  distinctUrls,
  imageUrlCellSchema,
  imageUrlSchema,
  MAX_URL_LENGTH,
  splitImageUrls,
} from './image-urls.js';
export { InputInspector, type InputProblem } from './input-checks.js';
export {
  CsvError,
  type CsvErrorCode,
  type CsvLimits,
  MAX_RECORD_BYTES,
  MAX_REPORTED_ERRORS,
  type ParsedProductCsv,
  type ProductRow,
  parseProductCsv,
  type RowProblem,
} from './parse-product-csv.js';
export {
  ERROR_SEPARATOR,
  ERRORS_COLUMN,
  neutraliseFormula,
  OUTPUT_URLS_COLUMN,
  type ResultProduct,
  resultCsvStream,
  resultHeader,
  resultRow,
  URL_SEPARATOR,
} from './result-csv.js';
export { MAX_PRODUCT_NAME_LENGTH, productRowSchema } from './row-schema.js';
