/** Where the API serves stored output images: `${publicBaseUrl}${IMAGE_ROUTE_PREFIX}${key}` (without OUTPUT_BASE_URL). */
export const IMAGE_ROUTE_PREFIX = '/images/';

/** The public links of a request, as the API answers them and the webhook sends them. */
export function requestLinks(publicBaseUrl: string, requestId: string) {
  return {
    status_url: `${publicBaseUrl}/api/status/${requestId}`,
    download_url: `${publicBaseUrl}/api/download/${requestId}`,
  };
}

/**
 * The public URL of a stored output image: where outputs are fetched from (the API's `/images/`, or a CDN or
 * bucket named by OUTPUT_BASE_URL; ends with a slash) and the output's key.
 */
export function outputImageUrl(outputBaseUrl: string, key: string): string {
  return `${outputBaseUrl}${key}`;
}

/** An output's name, as the storage gives it: a content hash and a file extension. */
const OUTPUT_KEY = /^[0-9a-f]{64}\.[a-z0-9]{2,5}$/;

/**
 * The output key an output URL names (its last path segment), or undefined when it names none. Output URLs end
 * with the key whether the API or a CDN serves them, so the outputs a request uses are read back from its results.
 */
export function outputKeyOf(url: string): string | undefined {
  const last = url.slice(url.lastIndexOf('/') + 1);
  return OUTPUT_KEY.test(last) ? last : undefined;
}
