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
