import { describe, expect, it } from 'vitest';
import { parseCsv } from './csv.js';

describe('parseCsv', () => {
  it('reads fields, quotes, escaped quotes, CRLF and blank lines, with line numbers', () => {
    expect(
      parseCsv('email,name\r\nada@x.example,"Lovelace, Ada"\n\n"kurt@x.example","K ""the"" G"\n'),
    ).toEqual([
      { line: 1, fields: ['email', 'name'] },
      { line: 2, fields: ['ada@x.example', 'Lovelace, Ada'] },
      { line: 4, fields: ['kurt@x.example', 'K "the" G'] },
    ]);
  });

  it('keeps a quoted line break inside its field and counts the lines after it', () => {
    expect(parseCsv('"a\nb",c\nd,e')).toEqual([
      { line: 1, fields: ['a\nb', 'c'] },
      { line: 3, fields: ['d', 'e'] },
    ]);
  });
});
