/**
 * Sample documents for the knowledge-base tests, generated with real writers (pdf-lib, docx) so the
 * tests show exactly what goes in; the hostile ones are built byte by byte where headers must lie.
 */
import { crc32, createDeflateRaw, deflateRawSync } from 'node:zlib';
import { Document, ExternalHyperlink, HeadingLevel, Packer, Paragraph, Table, TableCell, TableRow, TextRun } from 'docx';
import { PDFDocument, PDFHexString, PDFName, PDFString, StandardFonts } from 'pdf-lib';

const MB = 1024 * 1024;

export async function pdfWithTwoPages(): Promise<Buffer> {
  const doc = await PDFDocument.create();
  doc.setTitle('Quarterly Operations Review');
  const font = await doc.embedFont(StandardFonts.Helvetica);
  doc.addPage().drawText('The quick brown fox audits the backups on page one.', { x: 50, y: 700, size: 12, font });
  doc.addPage().drawText('The lazy dog restores them on page two.', { x: 50, y: 700, size: 12, font });
  return Buffer.from(await doc.save());
}

export async function pdfWithAction(action: Record<string, string | PDFString>, useObjectStreams: boolean): Promise<Buffer> {
  const doc = await PDFDocument.create();
  const font = await doc.embedFont(StandardFonts.Helvetica);
  doc.addPage().drawText('Nothing to see here.', { x: 50, y: 700, size: 12, font });
  doc.catalog.set(PDFName.of('OpenAction'), doc.context.register(doc.context.obj(action)));
  return Buffer.from(await doc.save({ useObjectStreams }));
}

/** A Standard-security PDF whose user password is not empty, so nobody can read it without one. */
export async function passwordProtectedPdf(): Promise<Buffer> {
  const doc = await PDFDocument.create();
  doc.addPage();
  const encrypt = doc.context.obj({ Filter: 'Standard', V: 1, R: 2, O: PDFHexString.of('3a'.repeat(32)), U: PDFHexString.of('5c'.repeat(32)), P: -44 });
  doc.context.trailerInfo.Encrypt = doc.context.register(encrypt);
  doc.context.trailerInfo.ID = doc.context.obj([PDFHexString.of('ab'.repeat(16)), PDFHexString.of('ab'.repeat(16))]);
  return Buffer.from(await doc.save({ useObjectStreams: false }));
}

/**
 * A hand-made PDF whose catalog and action live in an object stream, stored unfiltered or
 * hex-encoded, with a hand-made cross-reference stream pointing into it.
 */
export function pdfWithActionInObjectStream(action: string, filter: 'none' | 'ASCIIHexDecode'): Buffer {
  let pdf = '%PDF-1.7\n';
  const offsets: number[] = [];
  const add = (n: number, body: string) => {
    offsets[n] = pdf.length;
    pdf += `${n} 0 obj\n${body}\nendobj\n`;
  };
  add(4, '<< /Type /Pages /Kids [6 0 R] /Count 1 >>');
  add(6, '<< /Type /Page /Parent 4 0 R /MediaBox [0 0 200 200] >>');
  const catalog = '<< /Type /Catalog /Pages 4 0 R /OpenAction 5 0 R >>';
  const index = `2 0 5 ${catalog.length + 1} `;
  const objects = `${index}${catalog} ${action}`;
  const data = filter === 'none' ? objects : `${Buffer.from(objects, 'latin1').toString('hex')}>`;
  add(1, `<< /Type /ObjStm /N 2 /First ${index.length}${filter === 'none' ? '' : ` /Filter /${filter}`} /Length ${data.length} >>\nstream\n${data}\nendstream`);
  offsets[7] = pdf.length;
  const row = (type: number, field2: number, field3: number) => {
    const r = Buffer.alloc(7);
    r.writeUInt8(type, 0);
    r.writeUInt32BE(field2, 1);
    r.writeUInt16BE(field3, 5);
    return r;
  };
  const xref = Buffer.concat([row(0, 0, 65535), row(1, offsets[1]!, 0), row(2, 1, 0), row(0, 0, 0), row(1, offsets[4]!, 0), row(2, 1, 1), row(1, offsets[6]!, 0), row(1, offsets[7], 0)]);
  pdf += `7 0 obj\n<< /Type /XRef /Size 8 /Root 2 0 R /W [1 4 2] /Length ${xref.length} >>\nstream\n`;
  return Buffer.concat([Buffer.from(pdf, 'latin1'), xref, Buffer.from(`\nendstream\nendobj\nstartxref\n${offsets[7]}\n%%EOF\n`, 'latin1')]);
}

export async function onboardingDocx(): Promise<Buffer> {
  const doc = new Document({
    sections: [
      {
        children: [
          new Paragraph({ text: 'Onboarding Guide', heading: HeadingLevel.HEADING_1 }),
          new Paragraph({ text: 'New hires get a laptop on their first day.' }),
          new Paragraph({ text: 'Accounts', heading: HeadingLevel.HEADING_2 }),
          new Paragraph({ children: [new TextRun('Ask IT for a '), new ExternalHyperlink({ link: 'https://it.example.com/new', children: [new TextRun('ticket')] }), new TextRun(' before noon.')] }),
          new Table({
            rows: [
              new TableRow({ children: [new TableCell({ children: [new Paragraph('System')] }), new TableCell({ children: [new Paragraph('Owner')] })] }),
              new TableRow({ children: [new TableCell({ children: [new Paragraph('Payroll')] }), new TableCell({ children: [new Paragraph('Finance team')] })] }),
            ],
          }),
        ],
      },
    ],
  });
  return Packer.toBuffer(doc);
}

export interface ZipEntry {
  name: string;
  /** Raw-deflated bytes as they go into the archive. */
  deflated: Buffer;
  /** What the headers claim the entry inflates to. */
  declaredSize: number;
  crc: number;
}

export const deflatedEntry = (name: string, content: string): ZipEntry => ({ name, deflated: deflateRawSync(Buffer.from(content)), declaredSize: Buffer.byteLength(content), crc: crc32(content) });

/** A minimal ZIP writer (local headers, central directory, end record), so headers can lie. */
export function zip(entries: ZipEntry[]): Buffer {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(8, 8);
    local.writeUInt16LE(0x21, 12);
    local.writeUInt32LE(e.crc >>> 0, 14);
    local.writeUInt32LE(e.deflated.length, 18);
    local.writeUInt32LE(e.declaredSize, 22);
    local.writeUInt16LE(name.length, 26);
    const dir = Buffer.alloc(46);
    dir.writeUInt32LE(0x02014b50, 0);
    dir.writeUInt16LE(20, 4);
    dir.writeUInt16LE(20, 6);
    dir.writeUInt16LE(8, 10);
    dir.writeUInt16LE(0x21, 14);
    dir.writeUInt32LE(e.crc >>> 0, 16);
    dir.writeUInt32LE(e.deflated.length, 20);
    dir.writeUInt32LE(e.declaredSize, 24);
    dir.writeUInt16LE(name.length, 28);
    dir.writeUInt32LE(offset, 42);
    parts.push(local, name, e.deflated);
    central.push(dir, name);
    offset += local.length + name.length + e.deflated.length;
  }
  const centralDir = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(centralDir.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...parts, centralDir, end]);
}

/** Deflates `total` zero bytes one MiB at a time: the archive is small and so is the test. */
export async function deflatedZeros(total: number): Promise<{ deflated: Buffer; crc: number }> {
  const chunk = Buffer.alloc(MB);
  const deflate = createDeflateRaw({ level: 9 });
  const out: Buffer[] = [];
  deflate.on('data', (c: Buffer) => out.push(c));
  const ended = new Promise((resolve) => deflate.on('end', resolve));
  let crc = 0;
  for (let written = 0; written < total; written += MB) {
    crc = crc32(chunk, crc);
    if (!deflate.write(chunk)) await new Promise((resolve) => deflate.once('drain', resolve));
  }
  deflate.end();
  await ended;
  return { deflated: Buffer.concat(out), crc };
}

export const CONTENT_TYPES = '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/></Types>';

export const elf = () => Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]), Buffer.alloc(56), Buffer.from('\x00\x00/lib64/ld-linux-x86-64.so.2\x00')]);
export function peExecutable(): Buffer {
  const b = Buffer.alloc(256);
  b.write('MZ', 0, 'latin1');
  b.writeUInt32LE(0x80, 0x3c);
  b.write('PE\0\0', 0x80, 'latin1');
  b.write('This program cannot be run in DOS mode.', 0x4e, 'latin1');
  return b;
}
export const png = () => Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]), Buffer.from('IHDR'), Buffer.alloc(13, 1)]);

