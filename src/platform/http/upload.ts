import type { RequestHandler } from 'express';
import multer from 'multer';
import { BadRequestError, PayloadTooLargeError } from '../errors';

declare module 'express-serve-static-core' {
  interface Request {
    /** The uploaded file of a multipart request (routes that declare `upload`). */
    upload?: { bytes: Buffer; originalName: string; mimeType: string; size: number };
  }
}

/**
 * One file per multipart request, held in memory up to `maxBytes` (documents are parsed and kept in
 * Postgres, never written to disk under a name the client chose). Requests that are not multipart
 * pass through untouched, so a route can also take JSON.
 */
export function singleUpload(field: string, maxBytes: number): RequestHandler {
  // preservePath: the name as sent, so a name that is really a path is refused rather than trimmed.
  const parse = multer({ storage: multer.memoryStorage(), preservePath: true, defParamCharset: 'utf8', limits: { fileSize: maxBytes, files: 1, fields: 20, fieldSize: 64 * 1024, parts: 24 } }).single(field);
  return (req, res, next) => {
    parse(req, res, (err: unknown) => {
      if (err instanceof multer.MulterError) {
        if (err.code === 'LIMIT_FILE_SIZE') return next(new PayloadTooLargeError(maxBytes));
        if (err.code === 'LIMIT_UNEXPECTED_FILE') return next(new BadRequestError('unexpected-file-field', `Send the file in the multipart field '${field}' (one file per request).`));
        return next(new BadRequestError('invalid-multipart', `The multipart body could not be read: ${err.message}.`));
      }
      if (err) return next(err instanceof Error && /multipart|boundary/i.test(err.message) ? new BadRequestError('invalid-multipart', 'The multipart body is malformed.') : err);
      const file = (req as { file?: Express.Multer.File }).file;
      if (file) req.upload = { bytes: file.buffer, originalName: file.originalname, mimeType: file.mimetype, size: file.size };
      next();
    });
  };
}
