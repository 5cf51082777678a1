// A TypeScript web app: compiled to dist/ by `npm run build` during the
// build; only dist/ and the production dependencies ship.
import Fastify from "fastify";

const app = Fastify({ logger: true });

interface Greeting {
  message: string;
  compiled: boolean;
}

app.get("/", async (): Promise<Greeting> => ({ message: "hello from typescript", compiled: true }));
app.get("/healthz", async () => "ok\n");

const port = Number(process.env.PORT ?? 5000);
app.listen({ port, host: "0.0.0.0" }).catch((err: Error) => {
  app.log.error(err);
  process.exit(1);
});
