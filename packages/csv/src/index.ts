export { type ColumnRole, EXPECTED_HEADER, headerKey, type InputColumn, readHeader } from './header.js';
export { checkImageUrl, MAX_URL_LENGTH, readImageUrlCell, splitImageUrls } from './image-urls.js';
export {
  CsvError,
  type CsvErrorCode,
  type CsvLimits,
  MAX_PRODUCT_NAME_LENGTH,
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
