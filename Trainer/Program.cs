using TorchSharp;
var x = torch.tensor(new float[] { 1, 2, 3 }, requires_grad: true);
var y = (x * x).sum();
y.backward();
Console.WriteLine(string.Join(",", x.grad!.data<float>().ToArray()));
