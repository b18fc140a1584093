/**
 * Reusable buffers whose memory starts on a page boundary, for reads and writes
 * that bypass the page cache (O_DIRECT), which the kernel refuses from memory that
 * is not aligned to the disk's block. Node gives no aligned allocation, but the
 * memory of a WebAssembly.Memory is mapped whole pages at a time, so slices of one
 * at multiples of a page are aligned. The memory is made once, on first use, and
 * never grown (growing detaches every view of it).
 */

/** The alignment O_DIRECT needs here: a page, which covers 512- and 4096-byte blocks. */
export const DIRECT_ALIGN_BYTES = 4096;
const WASM_PAGE_BYTES = 64 * 1024;

// Node has WebAssembly; the TypeScript libraries this project compiles with do not declare it.
declare const WebAssembly: {
  Memory: new (size: { initial: number; maximum: number }) => { buffer: ArrayBuffer };
};

export class AlignedBuffers {
  readonly sliceBytes: number;
  readonly #count: number;
  #free: Buffer[] | undefined;

  /** count buffers of sliceBytes each (a multiple of DIRECT_ALIGN_BYTES). */
  constructor(sliceBytes: number, count: number) {
    if (sliceBytes % DIRECT_ALIGN_BYTES !== 0)
      throw new Error(`aligned buffers must be a multiple of ${DIRECT_ALIGN_BYTES} bytes`);
    this.sliceBytes = sliceBytes;
    this.#count = count;
  }

  /** A free buffer, or undefined when all are in use (the caller goes without). */
  take(): Buffer | undefined {
    this.#free ??= this.#make();
    return this.#free.pop();
  }

  /** Gives back a buffer that take() returned; it must not be used after. */
  give(buffer: Buffer): void {
    // Twice would hand one buffer to two users; the list is short (tens).
    if (this.#free && !this.#free.includes(buffer)) this.#free.push(buffer);
  }

  #make(): Buffer[] {
    const pages = Math.ceil((this.sliceBytes * this.#count) / WASM_PAGE_BYTES);
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
    const whole = Buffer.from(memory.buffer);
    const free: Buffer[] = [];
    for (let i = this.#count - 1; i >= 0; i--)
      free.push(whole.subarray(i * this.sliceBytes, (i + 1) * this.sliceBytes));
    return free;
  }
}
