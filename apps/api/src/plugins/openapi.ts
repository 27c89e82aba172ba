import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';
import type { OpenAPIV3_1 } from 'openapi-types';
import { registerWithAccess } from './route-access.js';

/**
 * The upload's body is multipart, read as a stream by the route rather than validated by a schema; its
 * description is added to the generated document here.
 */
function describeUpload(document: OpenAPIV3_1.Document): OpenAPIV3_1.Document {
  const upload = document.paths?.['/api/upload']?.post;
  if (upload) {
    upload.parameters = [
      ...(upload.parameters ?? []),
      {
        name: 'Idempotency-Key',
        in: 'header',
        required: false,
        description:
          'Up to 255 visible ASCII characters. The same key with the same file within 24 hours returns the first answer (with `Idempotent-Replayed: true`); with another file, 422.',
        schema: { type: 'string', maxLength: 255 },
        example: 'catalogue-2026-11-25',
      },
    ];
    upload.requestBody = {
      required: true,
      content: {
        'multipart/form-data': {
          schema: {
            type: 'object',
            required: ['file'],
            properties: {
              file: {
                type: 'string',
                format: 'binary',
                description:
                  'The CSV: `S. No.,Product Name,Input Image Urls`, UTF-8, URLs separated by commas.',
              },
              webhook_url: {
                type: 'string',
                format: 'uri',
                description: 'Called with a signed `request.completed` or `request.failed` event.',
              },
            },
          },
          example: { file: '(products.csv)', webhook_url: 'https://shop.example.com/hooks/images' },
        },
      },
    };
  }
  return document;
}

/** Where the document is published. */
const OPENAPI_PATH = '/openapi.json';

/** The OpenAPI 3.1 document at /openapi.json, generated from the route schemas, and a reference at /docs. */
export const openApi = fp(
  async (app: FastifyInstance, options: { publicBaseUrl: string; withKeys: boolean }) => {
    await app.register(swagger, {
      openapi: {
        openapi: '3.1.0',
        info: {
          title: 'Image processing service',
          version: '0.1.0',
          description:
            'Upload a CSV of products and image URLs; every image is downloaded, compressed at quality 50 and stored. Poll the status, download the result CSV, or be called back by webhook. Errors are RFC 9457 problem+json.',
        },
        servers: [{ url: options.publicBaseUrl }],
        components: {
          securitySchemes: {
            apiKey: { type: 'http', scheme: 'bearer', description: 'One of the API_KEYS.' },
          },
        },
        ...(options.withKeys ? { security: [{ apiKey: [] }] } : {}),
        tags: [
          { name: 'requests', description: 'Upload, follow and download processing requests' },
          { name: 'images', description: 'Processed images' },
          { name: 'operations', description: 'Health and metrics' },
        ],
      },
      transform: jsonSchemaTransform,
      transformObject: (input) => describeUpload(jsonSchemaTransformObject(input) as OpenAPIV3_1.Document),
    });
    app.get(OPENAPI_PATH, { schema: { hide: true }, config: { access: 'public' } }, async () =>
      app.swagger(),
    );
    await registerWithAccess(
      app,
      () => 'public',
      () =>
        app.register(swaggerUi, {
          routePrefix: '/docs',
          // No policy of its own: the pages get the service's (plugins/http-security.ts), which allows nothing
          // from elsewhere and upgrades to HTTPS only when the service is served over it.
          // The reference explores the published document. The plugin pins `url` to its own copy at /docs/json,
          // so the document is named in `urls`, which Swagger UI reads instead; a path without a host, so that
          // it works under whatever name the service is reached by.
          uiConfig: {
            urls: [{ url: OPENAPI_PATH, name: 'Image processing service (/openapi.json)' }],
            // No badge from Swagger's online validator: the page loads nothing from elsewhere.
            validatorUrl: null,
          },
        }),
    );
  },
);
