export { HEADER_NAMES } from './header.js';
export { imageUrlSchema } from './image-urls.js';
export { CsvError, type ParsedProductCsv, type ProductSink, parseProductCsv } from './parse-product-csv.js';
export { type ResultProduct, resultCsvStream } from './result-csv.js';
