import typescript from '@rollup/plugin-typescript'
import { dts } from 'rollup-plugin-dts'

// One input per public entry; later entries (ky, react, vue) join this list and share one core chunk.
const input = { index: 'src/index.ts' }
// oauth4webapi stays a dependency (not bundled): apps dedupe it, and it is the OAuth engine we trust.
const external = ['oauth4webapi']

export default [
  {
    input,
    external,
    output: { dir: 'dist', format: 'esm', entryFileNames: '[name].js', chunkFileNames: 'core-[hash].js', sourcemap: true },
    plugins: [
      typescript({ tsconfig: './tsconfig.build.json' }),
    ],
  },
  {
    input,
    external,
    output: { dir: 'dist', format: 'esm', entryFileNames: '[name].d.ts' },
    plugins: [dts({ tsconfig: './tsconfig.build.json' })],
  },
]
