/** A server the local-services module found or started. */
export interface LocalServer {
  readonly url: string;
  /** What it is and where, for the log. */
  readonly description: string;
  /** Its process, when it runs on this machine (the benchmark reads its CPU time). */
  readonly pid?: number;
  /** Stops it if this module started it; a no-op for servers that were already there. */
  stop(): Promise<void>;
}
