import type { KafkaClient } from '#app/messaging/transports/kafka'

/**
 * An in-memory Kafka with the semantics the transport relies on: topics with
 * a few partitions chosen by message key, consumer groups with committed
 * offsets, at-least-once redelivery from the last commit when a handler
 * throws or a consumer goes away before committing. Injected in place of the
 * kafkajs client (no broker here); the contract suite runs the same scenarios
 * against a real broker when KAFKA_BROKERS is set.
 */
export class FakeKafka {
  readonly partitions = 3
  topics = new Map<string, StoredMessage[][]>()
  committed = new Map<string, bigint>()
  sent: Array<{ topic: string; key: string | null; acks: number | undefined }> = []

  #topic(name: string) {
    let partitions = this.topics.get(name)
    if (!partitions) {
      partitions = Array.from({ length: this.partitions }, () => [])
      this.topics.set(name, partitions)
    }
    return partitions
  }

  partitionOf(key: string | null) {
    let hash = 0
    for (const char of key ?? '') hash = (hash * 31 + char.charCodeAt(0)) >>> 0
    return hash % this.partitions
  }

  append(topic: string, message: { key?: string | null; value: string | null; headers?: object }) {
    const partitions = this.#topic(topic)
    const partition = this.partitionOf(message.key ?? null)
    partitions[partition].push({
      key: message.key ?? null,
      value: message.value,
      offset: String(partitions[partition].length),
    })
  }

  client(): KafkaClient {
    const broker = this
    const producer = () => {
      let connected = false
      const send = async (record: { topic: string; messages: MessageInput[]; acks?: number }) => {
        if (!connected) throw new Error('producer is not connected')
        for (const message of record.messages) {
          broker.append(record.topic, message)
          broker.sent.push({ topic: record.topic, key: message.key ?? null, acks: record.acks })
        }
      }
      return {
        connect: async () => void (connected = true),
        disconnect: async () => void (connected = false),
        send,
        sendBatch: async (batch: {
          topicMessages: { topic: string; messages: MessageInput[] }[]
          acks?: number
        }) => {
          for (const entry of batch.topicMessages) await send({ ...entry, acks: batch.acks })
        },
      }
    }
    const consumer = ({ groupId }: { groupId: string }) => new FakeConsumer(broker, groupId)
    const admin = () => ({
      connect: async () => {},
      disconnect: async () => {},
      createTopics: async ({ topics }: { topics: { topic: string }[] }) => {
        for (const { topic } of topics) broker.#topic(topic)
        return true
      },
    })
    // The fake implements only what the transport calls; kafkajs's full client types are far wider.
    return { producer, consumer, admin } as unknown as KafkaClient
  }
}

interface StoredMessage {
  key: string | null
  value: string | null
  offset: string
}

interface MessageInput {
  key?: string | null
  value: string | null
  headers?: object
}

type EachMessage = (payload: {
  topic: string
  partition: number
  message: { key: Buffer | null; value: Buffer | null; offset: string; headers: object }
  heartbeat: () => Promise<void>
}) => Promise<void>

class FakeConsumer {
  #topics: string[] = []
  #running = false
  #loop?: Promise<void>

  constructor(
    private broker: FakeKafka,
    private groupId: string
  ) {}

  async connect() {}

  async subscribe({ topics }: { topics: string[] }) {
    this.#topics.push(...topics)
  }

  async run({ eachMessage }: { eachMessage: EachMessage }) {
    this.#running = true
    this.#loop = this.#poll(eachMessage)
  }

  async commitOffsets(offsets: { topic: string; partition: number; offset: string }[]) {
    for (const entry of offsets) {
      this.broker.committed.set(
        `${this.groupId}/${entry.topic}/${entry.partition}`,
        BigInt(entry.offset)
      )
    }
  }

  async disconnect() {
    this.#running = false
    await this.#loop
  }

  async #poll(eachMessage: EachMessage) {
    while (this.#running) {
      let delivered = false
      for (const topic of this.#topics) {
        const partitions = this.broker.topics.get(topic) ?? []
        for (const [partition, messages] of partitions.entries()) {
          if (!this.#running) return
          const next = this.broker.committed.get(`${this.groupId}/${topic}/${partition}`) ?? 0n
          const message = messages[Number(next)]
          if (!message) continue
          delivered = true
          try {
            await eachMessage({
              topic,
              partition,
              message: {
                key: message.key === null ? null : Buffer.from(message.key),
                value: message.value === null ? null : Buffer.from(message.value),
                offset: message.offset,
                headers: {},
              },
              heartbeat: async () => {},
            })
          } catch {
            // kafkajs seeks back to the last commit and tries again.
          }
        }
      }
      if (!delivered) await new Promise((resolve) => setTimeout(resolve, 10))
    }
  }
}
