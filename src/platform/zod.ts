import { z } from 'zod';
import { extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';

// Every schema in the app is built from this `z`, so `.openapi()` exists before any schema is made.
extendZodWithOpenApi(z);

export { z };
