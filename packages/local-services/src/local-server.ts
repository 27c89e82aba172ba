/** A server the local-services module found or started. */
export interface LocalServer {
  readonly url: string;
  /** What it is and where, for the log. */
  readonly description: string;
  /** Stops it if this module started it; a no-op for servers that were already there. */
  stop(): Promise<void>;
}
