/** The Redis-durable mode of the task queue. @packageDocumentation */
export {
  DurableTaskQueue,
  type DurableTaskEvent,
  type DurableTaskQueueEvents,
  type DurableTaskQueueStats,
} from './durable-task-queue'
export {
  DURABLE_QUEUE_DEFAULTS,
  type DurableHandler,
  type DurableRedisConnection,
  type DurableTaskQueueOptions,
} from './options'
