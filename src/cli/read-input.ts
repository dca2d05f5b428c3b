// Reads a JSON file given on the command line with the same limits as an HTTP body.
import { OperationOutcomeError, badRequest } from '@medplum/core';
import { openSync, readSync, closeSync, fstatSync } from 'node:fs';
import { MAX_JSON_BYTES, parseUntrustedJsonBytes } from '../validation/json-input.ts';

export function readJsonFile(path: string): unknown {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw new OperationOutcomeError(badRequest(`Cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`));
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) {
      throw new OperationOutcomeError(badRequest(`${path} is not a file`));
    }
    if (stat.size > MAX_JSON_BYTES) {
      throw new OperationOutcomeError(badRequest(`${path} is larger than ${MAX_JSON_BYTES} bytes`));
    }
    const buffer = Buffer.alloc(stat.size);
    let read = 0;
    while (read < stat.size) {
      const n = readSync(fd, buffer, read, stat.size - read, read);
      if (n === 0) {
        break;
      }
      read += n;
    }
    return parseUntrustedJsonBytes(buffer.subarray(0, read));
  } finally {
    closeSync(fd);
  }
}
