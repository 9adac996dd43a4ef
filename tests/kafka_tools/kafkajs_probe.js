// What kafkajs 2.2.4 does against a `shadowreplica serve`, printed as one JSON document for
// tests/test_kafkajs.py: admin metadata, offsets and configs, then a consumer group that reads every record
// of the topic and commits, then the group's committed offsets as the admin client reads them (lag tools).
// usage: node kafkajs_probe.js BROKER TOPIC GROUP EXPECTED_RECORDS
const path = require("path");
const { Kafka, logLevel, ConfigResourceTypes } = require(path.join(__dirname, "node", "node_modules", "kafkajs"));

const [broker, topic, groupId, expectedText] = process.argv.slice(2);
const expected = Number(expectedText);
const kafka = new Kafka({ clientId: "kafkajs-probe", brokers: [broker], logLevel: logLevel.NOTHING,
                          retry: { retries: 3 } });

async function main() {
  const out = {};
  const admin = kafka.admin();
  await admin.connect();
  out.cluster = await admin.describeCluster();
  const meta = await admin.fetchTopicMetadata({ topics: [topic] });
  out.partitions = meta.topics[0].partitions.map((p) => p.partitionId).sort((a, b) => a - b);
  out.offsets = await admin.fetchTopicOffsets(topic);
  const configs = await admin.describeConfigs({ includeSynonyms: false,
    resources: [{ type: ConfigResourceTypes.TOPIC, name: topic }] });
  out.configs = Object.fromEntries(configs.resources[0].configEntries.map((e) => [e.configName, e.configValue]));

  const consumer = kafka.consumer({ groupId, sessionTimeout: 10000, heartbeatInterval: 1000 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  out.records = [];
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out with ${out.records.length} of ${expected}`)), 60000);
    consumer.run({
      autoCommit: true,
      eachMessage: async ({ partition, message }) => {
        out.records.push([partition, Number(message.offset), message.key ? message.key.toString("base64") : null,
                          message.value ? message.value.toString("base64") : null]);
        if (out.records.length >= expected) {
          clearTimeout(timer);
          resolve();
        }
      },
    }).catch(reject);
  });
  await consumer.commitOffsets(out.offsets.map((o) => ({ topic, partition: o.partition, offset: o.high })));
  await consumer.disconnect();
  const committed = await admin.fetchOffsets({ groupId, topics: [topic] });
  out.committed = committed[0].partitions.map((p) => ({ partition: p.partition, offset: Number(p.offset) }));
  const groups = await admin.listGroups();
  out.groups = groups.groups.map((g) => g.groupId);
  await admin.disconnect();
  process.stdout.write(JSON.stringify(out));
}

main().catch((e) => {
  process.stderr.write(`kafkajs probe failed: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
