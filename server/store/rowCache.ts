/**
 * A row cache that lives for one transaction: the unit and build rows read while `Store.tx` runs
 * (and while the work queued for after its commit runs, synchronously) are kept by id and handed
 * out again (as copies) instead of read again. It is cleared when that ends and when a savepoint
 * rolls back; a write of one row through the store either sets the same new values in the kept
 * copy (`patch`, when the store knows them) or forgets it, and a write of many rows forgets all.
 * Outside that nothing is kept: another connection may write between two autocommit reads.
 */
export class RowCache<T extends object> {
  private readonly rows = new Map<number, T>();
  private active = false;
  /** The row of id: the kept copy while a transaction is open, else read (and kept if one is open). */
  get(id: number, read: (id: number) => T | undefined): T | undefined {
    if (!this.active) return read(id);
    const kept = this.rows.get(id);
    if (kept) return { ...kept };
    const row = read(id);
    if (row) this.rows.set(id, { ...row });
    return row;
  }
  /** A write of one row whose new values are known (the SQL ran and changed it): the kept copy, if any, follows. */
  patch(id: number, f: (row: T) => void): void {
    const kept = this.rows.get(id);
    if (kept) f(kept);
  }
  /** A write of one row. */
  forget(id: number): void { this.rows.delete(id); }
  /** A write of rows not known by id (or a rollback). */
  clear(): void { this.rows.clear(); }
  /** Store.tx: on when the outermost transaction begins, off (and cleared) when it ends. */
  setActive(on: boolean): void { this.active = on; this.rows.clear(); }
}
