/**
 * The rules for file names (SPEC §4), checked on the client before any byte is
 * sent and again on every server, for names from clients and peers alike.
 * Names are compared in Unicode NFC, so two spellings of "é" are one file.
 */
import { InvalidNameError } from '../shared/errors.ts';

export const MAX_NAME_BYTES = 1024;
/** ext4's NAME_MAX: a longer segment would fail at the file system with ENAMETOOLONG. */
export const MAX_SEGMENT_BYTES = 255;
/** The state folder of every data directory; never exported or listed. */
export const STATE_DIR_NAME = '.lanfs';
/**
 * The zero-byte file `FOLDER/.lanfs-folder` that keeps a folder nothing else is
 * in: an empty WebDAV collection (MKCOL) or an empty S3 bucket (CreateBucket).
 * Front ends never list it as a file or an object.
 */
export const FOLDER_MARKER = '.lanfs-folder';

/** Returns the name in its canonical (NFC) form, or throws InvalidNameError saying why. */
export function validateName(input: string): string {
  if (typeof input !== 'string' || input.length === 0)
    throw new InvalidNameError('A file name cannot be empty.');
  if (!input.isWellFormed()) throw new InvalidNameError('A file name must be valid UTF-8 text.');
  const name = input.normalize('NFC');
  const quoted = JSON.stringify(name);
  if (Buffer.byteLength(name, 'utf8') > MAX_NAME_BYTES) {
    throw new InvalidNameError(
      `The name ${quoted.slice(0, 40)}... is longer than ${MAX_NAME_BYTES} bytes.`,
    );
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name))
    throw new InvalidNameError(`The name ${quoted} contains a control character.`);
  if (name.includes('\\'))
    throw new InvalidNameError(`The name ${quoted} contains a backslash; use / between folders.`);
  if (name.startsWith('/'))
    throw new InvalidNameError(
      `The name ${quoted} starts with /; names are relative, like notes/todo.txt.`,
    );
  const segments = name.split('/');
  for (const segment of segments) {
    if (segment === '')
      throw new InvalidNameError(`The name ${quoted} has an empty part (// or a trailing /).`);
    if (segment === '.' || segment === '..')
      throw new InvalidNameError(`The name ${quoted} contains "${segment}" as a folder.`);
    if (Buffer.byteLength(segment, 'utf8') > MAX_SEGMENT_BYTES) {
      throw new InvalidNameError(
        `A part of the name ${quoted} is longer than ${MAX_SEGMENT_BYTES} bytes.`,
      );
    }
  }
  if (segments[0] === STATE_DIR_NAME)
    throw new InvalidNameError(`Names under ${STATE_DIR_NAME}/ are reserved for lanfs itself.`);
  return name;
}
