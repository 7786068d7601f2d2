import { DeleteObjectCommand, GetObjectCommand, S3Client, S3ServiceException } from "@aws-sdk/client-s3";
import { SESClient, SendRawEmailCommand } from "@aws-sdk/client-ses";
import { SQSClient, SendMessageCommand } from "@aws-sdk/client-sqs";
import { GetParameterCommand, ParameterNotFound, SSMClient } from "@aws-sdk/client-ssm";
import { mockClient } from "aws-sdk-client-mock";
import { S3MessageStore } from "../../../adapters/aws/s3-message-store";
import { SesRawMailSender } from "../../../adapters/aws/ses-sender";
import { SqsRetryQueue } from "../../../adapters/aws/sqs-retry-queue";
import { SsmSecretStore } from "../../../adapters/aws/ssm-secrets";
import { BounceSendError, MessageNotFoundError, MessageStoreError, SecretUnavailableError } from "../../../core/errors";

describe("delivery adapters on AWS SDK v3 (aws-sdk-client-mock)", () => {
  it("reads SSM SecureStrings decrypted; a missing parameter is undefined, anything else SecretUnavailableError", async () => {
    const client = new SSMClient({ region: "eu-west-2" });
    const ssm = mockClient(client);
    ssm.on(GetParameterCommand, { Name: "/ses-mail/test/gmail/oauth-client" }).resolves({ Parameter: { Value: "{}" } });
    ssm.on(GetParameterCommand, { Name: "/missing" }).rejects(new ParameterNotFound({ message: "nope", $metadata: {} }));
    ssm.on(GetParameterCommand, { Name: "/denied" }).rejects(Object.assign(new Error("not authorized"), { name: "AccessDeniedException" }));
    const store = new SsmSecretStore({ client });

    expect(await store.getSecret("/ses-mail/test/gmail/oauth-client")).toBe("{}");
    expect(ssm.commandCalls(GetParameterCommand)[0]!.args[0].input).toEqual({
      Name: "/ses-mail/test/gmail/oauth-client",
      WithDecryption: true,
    });
    expect(await store.getSecret("/missing")).toBeUndefined();
    await expect(store.getSecret("/denied")).rejects.toThrow(SecretUnavailableError);
  });

  it("parks retry messages on SQS, with the delay clamped to what SQS accepts", async () => {
    const client = new SQSClient({ region: "eu-west-2" });
    const sqs = mockClient(client);
    sqs.on(SendMessageCommand).resolves({ MessageId: "1" });
    const queue = new SqsRetryQueue({ queueUrl: "https://sqs.eu-west-2.amazonaws.com/123456789012/retry", client });
    await queue.enqueue("a");
    await queue.enqueue("b", { delaySeconds: 5000 });
    expect(sqs.commandCalls(SendMessageCommand).map((call) => call.args[0].input)).toEqual([
      { QueueUrl: "https://sqs.eu-west-2.amazonaws.com/123456789012/retry", MessageBody: "a" },
      { QueueUrl: "https://sqs.eu-west-2.amazonaws.com/123456789012/retry", MessageBody: "b", DelaySeconds: 900 },
    ]);
  });

  it("tells a missing S3 object from an S3 failure, and treats deleting a missing object as done", async () => {
    const client = new S3Client({ region: "eu-west-2" });
    const s3 = mockClient(client);
    s3.on(GetObjectCommand, { Key: "gone" }).rejects(
      new S3ServiceException({ name: "NoSuchKey", $fault: "client", message: "missing", $metadata: { httpStatusCode: 404 } }),
    );
    s3.on(GetObjectCommand, { Key: "denied" }).rejects(
      new S3ServiceException({ name: "AccessDenied", $fault: "client", message: "denied", $metadata: { httpStatusCode: 403 } }),
    );
    s3.on(DeleteObjectCommand).rejects(
      new S3ServiceException({ name: "NoSuchKey", $fault: "client", message: "missing", $metadata: { httpStatusCode: 404 } }),
    );
    const store = new S3MessageStore({ client });
    await expect(store.open({ bucket: "b", key: "gone" })).rejects.toThrow(MessageNotFoundError);
    await expect(store.open({ bucket: "b", key: "denied" })).rejects.toThrow(MessageStoreError);
    await expect(store.delete({ bucket: "b", key: "gone" })).resolves.toBeUndefined();
  });

  it("sends raw mail with SES, through a configuration set when given; failures are BounceSendError", async () => {
    const client = new SESClient({ region: "eu-west-2" });
    const ses = mockClient(client);
    ses
      .on(SendRawEmailCommand)
      .resolvesOnce({ MessageId: "0102-x" })
      .rejects(Object.assign(new Error("Email address is not verified."), { name: "MessageRejected" }));
    const sender = new SesRawMailSender({ client, configurationSetName: "ses-mail-test" });
    const raw = Buffer.from("From: a@b.example\r\n\r\nx");
    expect(await sender.sendRawMessage({ from: "MAILER-DAEMON@example.com", to: ["x@y.example"], raw })).toEqual({ messageId: "0102-x" });
    expect(ses.commandCalls(SendRawEmailCommand)[0]!.args[0].input).toEqual({
      Source: "MAILER-DAEMON@example.com",
      Destinations: ["x@y.example"],
      RawMessage: { Data: raw },
      ConfigurationSetName: "ses-mail-test",
    });
    await expect(sender.sendRawMessage({ from: "MAILER-DAEMON@example.com", to: ["x@y.example"], raw })).rejects.toThrow(BounceSendError);
  });
});
