/** `count` load-balancer backends named a, b, c… with the given weights (1 where none is given). */
export function backends(count: number, weights: readonly number[] = []) {
  return Array.from({ length: count }, (_, i) => ({
    id: String.fromCharCode(97 + i),
    url: `http://10.0.0.${i + 1}:8080`,
    weight: weights[i] ?? 1,
  }))
}
