/** The package ships no types; ioredis uses the same one to route commands. */
declare module 'cluster-key-slot' {
  /** The Redis Cluster hash slot (0–16383) of `key`, honouring `{hash tags}`. */
  export default function calculateSlot(key: string | Buffer): number
}
