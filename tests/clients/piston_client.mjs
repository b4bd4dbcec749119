// Drives the npm `piston-client` (unchanged) against a Piston-compatible server and prints
// one JSON object: what each call answered. Usage: node piston_client.mjs http://HOST:PORT
import piston from "piston-client";

const server = process.argv[2];
const client = piston({ server });

const cSum = '#include <stdio.h>\nint main(void){int a,b;if(scanf("%d %d",&a,&b)!=2)return 2;' +
  'printf("%d\\n",a+b);return 0;}\n';

const out = {};
const runtimes = await client.runtimes();
out.runtimes = Array.isArray(runtimes) ? runtimes.map((r) => r.language) : runtimes;
out.hello = await client.execute("python", 'print("hello world")');
out.stdin = await client.execute("python", "print(input()[::-1])", { stdin: "abc" });
out.args = await client.execute("python", "import sys; print(sys.argv[1:])");
out.alias = await client.execute("py", "print(6 * 7)");
out.compiled = await client.execute("c", cSum, { stdin: "2 3" });
out.failing = await client.execute("python", "import sys; sys.exit('bad')");
out.compileError = await client.execute("c", "int main( {");
out.files = await client.execute({
  language: "python",
  files: [{ name: "main.py", content: "import helper; print(helper.VALUE)" },
          { name: "helper.py", content: "VALUE = 'from a second file'" }],
});
console.log(JSON.stringify(out));
